"""``/api/v1/wallet/transactions``: transfers, cash-outs, staff deposits, actions and reading, over
HTTP against the real database: the contract's shapes, rules, error codes and money effects."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from entrypoints.bootstrap import Container, build
from entrypoints.settings import Settings
from support import Api, Person, assert_problem, idem
from wallet_core.local import MemoryNotifier
from wallet_core.testing.fakes import ManualClock

TX = "/api/v1/wallet/transactions"
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
TX_KEYS = {
    "id",
    "type",
    "status",
    "amount",
    "currency",
    "funding_source",
    "reference",
    "description",
    "wallet_id",
    "counterparty_wallet_id",
    "sender",
    "recipient",
    "metadata",
    "reverses",
    "reversed_amount",
    "created_at",
    "updated_at",
    "expires_at",
    "completed_at",
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def party(person: Person, wallet_id: str | None = None) -> dict[str, str]:
    return {
        "user_id": person.id,
        "username": person.username,
        "wallet_id": wallet_id or person.wallet_id,
    }


def assert_tx_shape(tx: dict[str, Any]) -> None:
    assert set(tx) == TX_KEYS, set(tx) ^ TX_KEYS
    uuid.UUID(tx["id"])
    uuid.UUID(tx["wallet_id"])
    assert tx["type"] in {"deposit", "withdrawal", "transfer"}
    assert tx["status"] in {"pending", "completed", "rejected", "cancelled", "expired", "failed"}
    assert tx["funding_source"] in {"paysend", "blf_atm", "internal", "manual"}
    assert isinstance(tx["amount"], str) and re.match(r"^\d+\.\d{2}$", tx["amount"])
    assert isinstance(tx["description"], str)
    assert isinstance(tx["reference"], str) and tx["reference"]
    for name in ("created_at", "updated_at"):
        assert RFC3339_Z.match(tx[name]), tx[name]
    for name in ("expires_at", "completed_at"):
        assert tx[name] is None or RFC3339_Z.match(tx[name]), tx[name]
    for side in ("sender", "recipient"):
        if tx[side] is not None:
            assert set(tx[side]) == {"user_id", "username", "wallet_id"}


async def create(
    client: httpx.AsyncClient, who: Person, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(TX, json=body, headers={**who.headers, **idem(), **headers})


async def money(api: Api, who: Person, wallet_id: str | None = None) -> tuple[str, ...]:
    w = await api.wallet(who, wallet_id)
    return w["balance"], w["available_balance"], w["held_balance"], w["pending_incoming"]


async def get_tx(client: httpx.AsyncClient, who: Person, tx_id: str) -> dict[str, Any]:
    response = await client.get(f"{TX}/{tx_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Transfers ----------------------------------------------------------------------------------------


async def test_transfer_shape_hold_and_defaults(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "100.00")
    response = await create(
        client,
        alice,
        {"type": "transfer", "amount": "12.5", "recipient": bob.username, "description": "lunch"},
    )
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    tx = response.json()
    assert_tx_shape(tx)
    assert tx["type"] == "transfer"
    assert tx["status"] == "pending"
    assert tx["amount"] == "12.50"
    assert tx["currency"] == "USD"
    assert tx["funding_source"] == "internal"
    assert re.match(r"^TRF-[0-9A-Z]{6,}$", tx["reference"]), tx["reference"]
    assert tx["description"] == "lunch"
    assert tx["wallet_id"] == alice.wallet_id
    assert tx["counterparty_wallet_id"] == bob.wallet_id
    assert tx["sender"] == party(alice)
    assert tx["recipient"] == party(bob)
    assert tx["completed_at"] is None
    assert ts(tx["expires_at"]) - ts(tx["created_at"]) == timedelta(hours=24)
    assert abs(ts(tx["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)

    # Held at once on the sender; pending on the recipient; no posted balance moves yet.
    assert await money(api, alice) == ("100.00", "87.50", "12.50", "0.00")
    assert await money(api, bob) == ("0.00", "0.00", "0.00", "12.50")

    # Both parties read the same single transaction.
    assert await get_tx(client, alice, tx["id"]) == tx
    assert await get_tx(client, bob, tx["id"]) == tx
    staff = await api.staff()
    assert await get_tx(client, staff, tx["id"]) == tx
    for who in (alice, bob):
        listed = (await client.get(TX, params={"type": "transfer"}, headers=who.headers)).json()
        assert [t["id"] for t in listed["results"]] == [tx["id"]]
        assert listed["results"][0] == tx


async def test_recipient_by_phone_with_and_without_plus_and_by_wallet_id(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    assert bob.phone_number.startswith("+")
    targets = [bob.phone_number, bob.phone_number.lstrip("+"), bob.wallet_id, bob.username.upper()]
    for target in targets:
        response = await api.send(alice, target, "1.00")
        assert response.status_code == 201, (target, response.text)
        assert response.json()["recipient"] == party(bob)
    assert await money(api, bob) == ("0.00", "0.00", "0.00", "4.00")
    assert await money(api, alice) == ("10.00", "6.00", "4.00", "0.00")


async def test_wallet_id_picks_the_source_and_the_recipient_wallet(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    alice_eur = await api.open_wallet(alice, "EUR")
    bob_eur = await api.open_wallet(bob, "EUR")
    await api.fund(alice, "10.00")
    await api.fund(alice, "20.00", alice_eur)

    eur = await api.send(alice, bob, "3.00", wallet_id=alice_eur)
    assert eur.status_code == 201, eur.text
    tx = eur.json()
    assert tx["currency"] == "EUR"
    assert tx["sender"] == party(alice, alice_eur)
    assert tx["recipient"] == party(bob, bob_eur)
    assert await money(api, alice, alice_eur) == ("20.00", "17.00", "3.00", "0.00")
    assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")

    # Without wallet_id the source is the sender's wallet in the recipient wallet's currency.
    by_wallet = await api.send(alice, bob_eur, "2.00")
    assert by_wallet.status_code == 201, by_wallet.text
    assert by_wallet.json()["sender"]["wallet_id"] == alice_eur
    assert by_wallet.json()["currency"] == "EUR"
    # By username with no wallet_id: the recipient's first wallet (USD).
    default = await api.send(alice, bob, "1.00")
    assert default.json()["currency"] == "USD"
    assert default.json()["recipient"]["wallet_id"] == bob.wallet_id
    assert default.json()["sender"]["wallet_id"] == alice.wallet_id


async def test_currency_mismatch(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    euro_only = await api.person(currency="EUR")
    await api.fund(alice, "10.00")
    assert_problem(await api.send(alice, euro_only, "1.00"), 422, "currency_mismatch")
    by_wallet = await api.send(alice, euro_only.wallet_id, "1.00")
    assert_problem(by_wallet, 422, "currency_mismatch")
    explicit = await api.send(alice, euro_only, "1.00", wallet_id=alice.wallet_id)
    assert_problem(explicit, 422, "currency_mismatch")
    alice_gbp = await api.open_wallet(alice, "GBP")
    cross = await api.send(alice, euro_only.wallet_id, "1.00", wallet_id=alice_gbp)
    assert_problem(cross, 422, "currency_mismatch")
    assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")
    assert await money(api, euro_only) == ("0.00", "0.00", "0.00", "0.00")


async def test_same_wallet_and_unknown_recipients(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    await api.fund(alice, "10.00")
    assert_problem(await api.send(alice, alice, "1.00"), 422, "same_wallet")
    assert_problem(await api.send(alice, alice.wallet_id, "1.00"), 422, "same_wallet")
    assert_problem(await api.send(alice, alice.phone_number, "1.00"), 422, "same_wallet")
    for nobody in (f"ghost_{uuid.uuid4().hex[:8]}", "+19999999999999", str(uuid.uuid4())):
        assert_problem(await api.send(alice, nobody, "1.00"), 422, "recipient_not_found")
    assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")
    listed = (await client.get(TX, headers=alice.headers)).json()
    assert listed["count"] == 1


async def test_insufficient_funds(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    body = assert_problem(await api.send(alice, bob, "10.01"), 422, "insufficient_funds")
    assert "10.00" in body["detail"] and "10.01" in body["detail"]
    ok = await api.send(alice, bob, "6.00")
    assert ok.status_code == 201
    # The hold counts: only 4.00 is available now.
    assert_problem(await api.send(alice, bob, "4.01"), 422, "insufficient_funds")
    assert (await api.send(alice, bob, "4.00")).status_code == 201
    assert await money(api, alice) == ("10.00", "0.00", "10.00", "0.00")
    # Fifteen integer digits parse fine; it is the balance that refuses.
    huge = await api.send(alice, bob, "999999999999999.99")
    assert_problem(huge, 422, "insufficient_funds")


@pytest.mark.parametrize(
    "amount",
    [
        "1.001",
        "0",
        "0.00",
        "-5.00",
        "1234567890123456",
        "1234567890123456.00",
        "abc",
        "",
        "1e3",
        "1,00",
        "NaN",
        "Infinity",
        "0x10",
    ],
)
async def test_invalid_amounts(client: httpx.AsyncClient, api: Api, amount: str) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    assert_problem(await api.send(alice, bob, amount), 422, "invalid_amount")
    cash_out = await create(client, alice, {"type": "withdrawal", "amount": amount})
    assert_problem(cash_out, 422, "invalid_amount")
    assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "transfer", "amount": 5, "recipient": "someone"},
        {"type": "transfer", "amount": 5.0, "recipient": "someone"},
        {"type": "transfer", "amount": "1.00", "recipient": "someone", "description": "x" * 141},
        {"type": "transfer", "amount": "1.00", "recipient": "someone", "memo": "hi"},
        {"type": "transfer", "amount": "1.00"},
        {"type": "transfer", "recipient": "someone"},
        {"type": "transfer", "amount": "1.00", "recipient": "someone", "wallet_id": "nope"},
        {"type": "refund", "amount": "1.00"},
        {"amount": "1.00", "recipient": "someone"},
        {"type": "withdrawal", "amount": 3},
        {"type": "withdrawal", "amount": "1.00", "recipient": "someone"},
    ],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, api: Api, body: dict[str, Any]
) -> None:
    alice = await api.person()
    await api.fund(alice, "10.00")
    response = await create(client, alice, body)
    assert_problem(response, 400, "validation_error")
    assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")


async def test_malformed_json_is_400(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    response = await client.post(
        TX,
        content=b'{"type": "transfer", "amount": ',
        headers={**alice.headers, **idem(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_description_of_140_characters_is_fine(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    text = "é" * 140
    response = await api.send(alice, bob, "1.00", description=text)
    assert response.status_code == 201, response.text
    assert response.json()["description"] == text


# Actions ------------------------------------------------------------------------------------------


async def test_accept_posts_the_transfer_atomically(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    tx = (await api.send(alice, bob, "20.00")).json()
    accepted = await api.act(bob, tx["id"], "accept")
    assert accepted.status_code == 200, accepted.text
    done = accepted.json()
    assert_tx_shape(done)
    assert done["id"] == tx["id"]
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    assert ts(done["updated_at"]) >= ts(tx["updated_at"])
    assert done["reference"] == tx["reference"]
    assert await money(api, alice) == ("30.00", "30.00", "0.00", "0.00")
    assert await money(api, bob) == ("20.00", "20.00", "0.00", "0.00")
    assert await get_tx(client, alice, tx["id"]) == done
    # Terminal: nothing more may happen to it.
    assert_problem(await api.act(bob, tx["id"], "accept"), 409, "not_pending")
    assert_problem(await api.act(bob, tx["id"], "reject"), 409, "not_pending")
    assert_problem(await api.act(alice, tx["id"], "cancel"), 409, "not_pending")
    assert await money(api, bob) == ("20.00", "20.00", "0.00", "0.00")
    await api.audit_clean()


@pytest.mark.parametrize(
    ("actor", "action", "status"), [("bob", "reject", "rejected"), ("alice", "cancel", "cancelled")]
)
async def test_reject_and_cancel_release_the_hold(
    client: httpx.AsyncClient, api: Api, actor: str, action: str, status: str
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    tx = (await api.send(alice, bob, "20.00")).json()
    who = {"alice": alice, "bob": bob}[actor]
    response = await api.act(who, tx["id"], action)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status
    assert response.json()["completed_at"] is None or status == "completed"
    assert await money(api, alice) == ("50.00", "50.00", "0.00", "0.00")
    assert await money(api, bob) == ("0.00", "0.00", "0.00", "0.00")
    assert_problem(await api.act(bob, tx["id"], "accept"), 409, "not_pending")
    assert (await get_tx(client, bob, tx["id"]))["status"] == status
    await api.audit_clean()


async def test_only_the_right_party_may_act(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob, eve = await api.person(), await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "50.00")
    tx = (await api.send(alice, bob, "20.00")).json()
    wrong = [
        (alice, "accept"),
        (alice, "reject"),
        (bob, "cancel"),
        (eve, "accept"),
        (eve, "reject"),
        (eve, "cancel"),
        (staff, "accept"),
    ]
    for who, action in wrong:
        assert_problem(await api.act(who, tx["id"], action), 404, "not_found")
    assert_problem(await api.act(bob, str(uuid.uuid4()), "accept"), 404, "not_found")
    assert (await get_tx(client, alice, tx["id"]))["status"] == "pending"
    assert await money(api, alice) == ("50.00", "30.00", "20.00", "0.00")
    bad = await client.post(
        f"{TX}/{tx['id']}/action", json={"action": "approve"}, headers={**bob.headers, **idem()}
    )
    assert_problem(bad, 400, "validation_error")
    extra = await client.post(
        f"{TX}/{tx['id']}/action",
        json={"action": "accept", "note": 1},
        headers={**bob.headers, **idem()},
    )
    assert_problem(extra, 400, "validation_error")
    assert (await get_tx(client, alice, tx["id"]))["status"] == "pending"


async def test_get_transaction_parties_and_staff_only(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob, eve = await api.person(), await api.person(), await api.person()
    await api.fund(alice, "5.00")
    tx = (await api.send(alice, bob, "1.00")).json()
    assert_problem(await client.get(f"{TX}/{tx['id']}", headers=eve.headers), 404, "not_found")
    assert_problem(
        await client.get(f"{TX}/{uuid.uuid4()}", headers=alice.headers), 404, "not_found"
    )
    assert (await get_tx(client, bob, tx["id"]))["id"] == tx["id"]


# Withdrawals (cash-out) ---------------------------------------------------------------------------


async def test_withdrawal_holds_funds_and_shows_the_code_once(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    await api.fund(alice, "40.00")
    response = await create(
        client, alice, {"type": "withdrawal", "amount": "15.00", "description": "atm"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    code = body.pop("withdrawal_code")
    assert isinstance(code, str) and len(code) >= 8
    assert_tx_shape(body)
    assert body["type"] == "withdrawal"
    assert body["status"] == "pending"
    assert body["funding_source"] == "blf_atm"
    assert body["amount"] == "15.00"
    assert body["sender"] == party(alice)
    assert body["recipient"] is None
    assert body["counterparty_wallet_id"] is None
    assert body["wallet_id"] == alice.wallet_id
    assert ts(body["expires_at"]) - ts(body["created_at"]) == timedelta(minutes=30)
    assert await money(api, alice) == ("40.00", "25.00", "15.00", "0.00")

    fetched = await client.get(f"{TX}/{body['id']}", headers=alice.headers)
    assert "withdrawal_code" not in fetched.json()
    assert code not in fetched.text
    assert fetched.json() == body
    listed = await client.get(TX, params={"type": "withdrawal"}, headers=alice.headers)
    assert code not in listed.text
    assert all("withdrawal_code" not in t for t in listed.json()["results"])
    staff = await api.staff()
    staff_view = await client.get(f"{TX}/{body['id']}", headers=staff.headers)
    assert code not in staff_view.text

    # Each cash-out gets its own code.
    other = await create(client, alice, {"type": "withdrawal", "amount": "1.00"})
    assert other.json()["withdrawal_code"] != code

    # The sender may cancel; the hold goes away.
    cancelled = await api.act(alice, body["id"], "cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert "withdrawal_code" not in cancelled.json()
    assert await money(api, alice) == ("40.00", "39.00", "1.00", "0.00")
    assert_problem(await api.act(alice, other.json()["id"], "accept"), 404, "not_found")
    await api.audit_clean()


async def test_withdrawal_insufficient_funds_and_wallet_choice(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    alice_eur = await api.open_wallet(alice, "EUR")
    await api.fund(alice, "5.00", alice_eur)
    too_much = await create(client, alice, {"type": "withdrawal", "amount": "1.00"})
    assert_problem(too_much, 422, "insufficient_funds")
    eur = await create(
        client, alice, {"type": "withdrawal", "amount": "5.00", "wallet_id": alice_eur}
    )
    assert eur.status_code == 201, eur.text
    assert eur.json()["currency"] == "EUR"
    assert await money(api, alice, alice_eur) == ("5.00", "0.00", "5.00", "0.00")


# Staff deposits -----------------------------------------------------------------------------------


async def test_staff_deposit(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    alice = await api.person()
    body = {
        "type": "deposit",
        "amount": "25.00",
        "wallet_id": alice.wallet_id,
        "funding_source": "manual",
        "description": "goodwill",
    }
    refused = await create(client, alice, body)
    assert_problem(refused, 403, "forbidden")
    assert await money(api, alice) == ("0.00", "0.00", "0.00", "0.00")

    response = await create(client, staff, body)
    assert response.status_code == 201, response.text
    tx = response.json()
    assert_tx_shape(tx)
    assert tx["type"] == "deposit"
    assert tx["status"] == "completed"
    assert tx["funding_source"] == "manual"
    assert tx["amount"] == "25.00"
    assert tx["description"] == "goodwill"
    assert tx["sender"] is None
    assert tx["recipient"] == party(alice)
    assert tx["wallet_id"] == alice.wallet_id
    assert tx["counterparty_wallet_id"] is None
    assert tx["expires_at"] is None
    assert tx["completed_at"] is not None
    assert tx["reference"].startswith("DEP-")
    assert await money(api, alice) == ("25.00", "25.00", "0.00", "0.00")
    assert await get_tx(client, alice, tx["id"]) == tx

    for bad in (
        {**body, "funding_source": "paysend"},
        {k: v for k, v in body.items() if k != "wallet_id"},
        {**body, "amount": 25},
    ):
        assert_problem(await create(client, staff, bad), 400, "validation_error")
    missing = await create(client, staff, {**body, "wallet_id": str(uuid.uuid4())})
    assert_problem(missing, 404, "not_found")
    assert await money(api, alice) == ("25.00", "25.00", "0.00", "0.00")


# Expiry -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def yesterday(make_settings: Callable[..., Settings]) -> AsyncIterator[Container]:
    """A second container on the same database whose clock runs 25 hours behind, so what it
    creates is already past ``expires_at`` by the real clock the API uses."""
    container = build(
        make_settings(),
        clock=ManualClock(datetime.now(UTC) - timedelta(hours=25)),
        notifier=MemoryNotifier(),
    )
    yield container
    await container.close()


async def test_acting_after_expiry_is_422_expired_and_releases_the_hold(
    client: httpx.AsyncClient, api: Api, yesterday: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "30.00")
    transfers = yesterday.core.transfers
    old = [
        await transfers.create_transfer(alice.actor, amount=a, recipient=bob.username)
        for a in ("3.00", "4.00")
    ]
    cash = await yesterday.core.cashouts.request(alice.actor, amount="5.00")
    assert await money(api, alice) == ("30.00", "18.00", "12.00", "0.00")

    assert_problem(await api.act(bob, str(old[0].id), "accept"), 422, "expired")
    assert_problem(await api.act(alice, str(old[1].id), "cancel"), 422, "expired")
    assert_problem(await api.act(alice, str(cash.transaction.id), "cancel"), 422, "expired")
    for t in (*old, cash.transaction):
        tx = await get_tx(client, alice, str(t.id))
        assert tx["status"] == "expired"
    assert await money(api, alice) == ("30.00", "30.00", "0.00", "0.00")
    assert await money(api, bob) == ("0.00", "0.00", "0.00", "0.00")
    # Once expired it is terminal.
    assert_problem(await api.act(bob, str(old[0].id), "accept"), 409, "not_pending")
    await api.audit_clean()


async def test_expiry_time_is_configurable(
    make_settings: Callable[..., Settings], api: Api
) -> None:
    from entrypoints.http.app import create_app

    settings = make_settings(TRANSFER_EXPIRY_SECONDS="90", CASHOUT_EXPIRY_SECONDS="45")
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            alice, bob = await api.person(), await api.person()
            await api.fund(alice, "10.00")
            sent = await http.post(
                TX,
                json={"type": "transfer", "amount": "1.00", "recipient": bob.username},
                headers={**alice.headers, **idem()},
            )
            cash = await http.post(
                TX,
                json={"type": "withdrawal", "amount": "1.00"},
                headers={**alice.headers, **idem()},
            )
    finally:
        await container.close()
    assert sent.status_code == 201 and cash.status_code == 201
    for response, seconds in ((sent, 90), (cash, 45)):
        tx = response.json()
        assert ts(tx["expires_at"]) - ts(tx["created_at"]) == timedelta(seconds=seconds)


# Concurrency --------------------------------------------------------------------------------------


async def test_fifty_concurrent_transfers_of_the_whole_balance(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    recipients = [await api.person() for _ in range(5)]
    await api.fund(alice, "50.00")
    responses = await asyncio.gather(
        *(api.send(alice, recipients[i % 5], "50.00") for i in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    for r in responses:
        if r.status_code != 201:
            assert_problem(r, 422, "insufficient_funds")
    assert await money(api, alice) == ("50.00", "0.00", "50.00", "0.00")
    pending = sum(
        [(await api.wallet(p))["pending_incoming"] == "50.00" for p in recipients], start=0
    )
    assert pending == 1
    listed = (await client.get(TX, params={"type": "transfer"}, headers=alice.headers)).json()
    assert listed["count"] == 1
    await api.audit_clean()


async def test_concurrent_accept_and_cancel_change_state_once(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    tx = (await api.send(alice, bob, "10.00")).json()
    accept, cancel = await asyncio.gather(
        api.act(bob, tx["id"], "accept"), api.act(alice, tx["id"], "cancel")
    )
    assert sorted([accept.status_code, cancel.status_code]) == [200, 409]
    loser = accept if accept.status_code == 409 else cancel
    assert_problem(loser, 409, "not_pending")
    final = await get_tx(client, alice, tx["id"])
    if accept.status_code == 200:
        assert final["status"] == "completed"
        assert await money(api, bob) == ("10.00", "10.00", "0.00", "0.00")
    else:
        assert final["status"] == "cancelled"
        assert await money(api, alice) == ("10.00", "10.00", "0.00", "0.00")
    await api.audit_clean()
