"""``/api/v1/wallet``: the wallet object, one wallet per currency, staff views, filters, ordering,
pagination, and freezing (a frozen wallet can neither send, receive nor cash out)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from entrypoints.http.webhooks.signatures import sign
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, Person, assert_problem, idem

WALLET = "/api/v1/wallet"
TX = "/api/v1/wallet/transactions"
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
MONEY = re.compile(r"^-?\d+\.\d{2}$")
WALLET_KEYS = {
    "id",
    "owner",
    "currency",
    "balance",
    "available_balance",
    "held_balance",
    "pending_incoming",
    "is_active",
    "created_at",
    "updated_at",
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_wallet_shape(wallet: dict[str, Any]) -> None:
    assert set(wallet) == WALLET_KEYS
    assert set(wallet["owner"]) == {"id", "username"}
    uuid.UUID(wallet["id"])
    uuid.UUID(wallet["owner"]["id"])
    for name in ("balance", "available_balance", "held_balance", "pending_incoming"):
        assert isinstance(wallet[name], str)
        assert MONEY.match(wallet[name]), (name, wallet[name])
    assert isinstance(wallet["is_active"], bool)
    assert RFC3339_Z.match(wallet["created_at"]), wallet["created_at"]
    assert RFC3339_Z.match(wallet["updated_at"]), wallet["updated_at"]


async def list_wallets(client: httpx.AsyncClient, who: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(WALLET, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_new_user_wallet_has_the_contract_shape(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    body = await list_wallets(client, alice)
    assert body["count"] == 1
    assert body["next"] is None and body["previous"] is None
    (wallet,) = body["results"]
    assert_wallet_shape(wallet)
    assert wallet["id"] == alice.wallet_id
    assert wallet["owner"] == {"id": alice.id, "username": alice.username}
    assert wallet["currency"] == "USD"
    assert wallet["balance"] == "0.00"
    assert wallet["available_balance"] == "0.00"
    assert wallet["held_balance"] == "0.00"
    assert wallet["pending_incoming"] == "0.00"
    assert wallet["is_active"] is True
    # GET by id returns the same object; the trailing slash is optional.
    one = await client.get(f"{WALLET}/{alice.wallet_id}/", headers=alice.headers)
    assert one.status_code == 200
    assert one.json() == wallet
    slash = await client.get(f"{WALLET}/", headers=alice.headers)
    assert slash.status_code == 200
    assert slash.json()["results"] == [wallet]


async def test_money_is_a_two_digit_string(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    await api.fund(alice, "12.5")
    wallet = await api.wallet(alice)
    assert wallet["balance"] == "12.50"
    assert wallet["available_balance"] == "12.50"
    await api.fund(alice, "0.05")
    assert (await api.wallet(alice))["balance"] == "12.55"


async def test_wallets_need_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(WALLET)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    bad = await client.get(WALLET, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith("Bearer")


async def test_open_wallet_one_per_currency(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    created = await client.post(WALLET, json={"currency": "EUR"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    wallet = created.json()
    assert_wallet_shape(wallet)
    assert wallet["currency"] == "EUR"
    assert wallet["owner"] == {"id": alice.id, "username": alice.username}
    assert wallet["balance"] == "0.00"

    again = await client.post(f"{WALLET}/", json={"currency": "EUR"}, headers=alice.headers)
    assert_problem(again, 409, "already_exists")
    first_currency = await client.post(WALLET, json={"currency": "USD"}, headers=alice.headers)
    assert_problem(first_currency, 409, "already_exists")

    body = await list_wallets(client, alice)
    assert body["count"] == 2
    assert {w["currency"] for w in body["results"]} == {"USD", "EUR"}
    assert wallet["id"] in {w["id"] for w in body["results"]}


@pytest.mark.parametrize(
    "payload",
    [{}, {"currency": 5}, {"currency": "EUR", "extra": 1}, {"currency": "EURO"}],
)
async def test_open_wallet_rejects_malformed_bodies(
    client: httpx.AsyncClient, api: Api, payload: dict[str, Any]
) -> None:
    alice = await api.person()
    response = await client.post(WALLET, json=payload, headers=alice.headers)
    assert_problem(response, 400, "validation_error")
    assert (await list_wallets(client, alice))["count"] == 1


async def test_open_wallet_in_an_unsupported_currency_is_refused(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    response = await client.post(WALLET, json={"currency": "XYZ"}, headers=alice.headers)
    assert 400 <= response.status_code < 500
    assert (await list_wallets(client, alice))["count"] == 1


async def test_get_wallet_owner_and_staff_only(client: httpx.AsyncClient, api: Api) -> None:
    alice, mallory = await api.person(), await api.person()
    staff = await api.staff()
    mine = await client.get(f"{WALLET}/{alice.wallet_id}", headers=alice.headers)
    assert mine.status_code == 200
    by_staff = await client.get(f"{WALLET}/{alice.wallet_id}", headers=staff.headers)
    assert by_staff.status_code == 200
    assert by_staff.json() == mine.json()
    theirs = await client.get(f"{WALLET}/{alice.wallet_id}", headers=mallory.headers)
    missing = await client.get(f"{WALLET}/{uuid.uuid4()}", headers=mallory.headers)
    assert_problem(theirs, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert theirs.json()["detail"] == missing.json()["detail"]


async def test_staff_sees_every_wallet_and_filters_by_user(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    alice, bob = await api.person(), await api.person(currency="EUR")
    await api.open_wallet(alice, "GBP")

    by_name = await list_wallets(client, staff, user=alice.username.upper())
    assert by_name["count"] == 2
    assert {w["id"] for w in by_name["results"]} == set(alice.wallets.values())
    by_id = await list_wallets(client, staff, user=alice.id)
    assert {w["id"] for w in by_id["results"]} == set(alice.wallets.values())
    bobs = await list_wallets(client, staff, user=bob.username)
    assert [w["id"] for w in bobs["results"]] == [bob.wallet_id]
    assert bobs["results"][0]["currency"] == "EUR"
    nobody = await list_wallets(client, staff, user="no_such_user_" + uuid.uuid4().hex)
    assert nobody["count"] == 0 and nobody["results"] == []

    # A staff list with no filter includes other people's wallets.
    everything = await list_wallets(client, staff, page_size=100)
    assert everything["count"] >= 3
    # A user asking for someone else's wallets gets nothing.
    snoop = await list_wallets(client, alice, user=bob.username)
    assert snoop["count"] == 0 and snoop["results"] == []
    own = await list_wallets(client, alice, user=alice.username)
    assert own["count"] == 2


@pytest.fixture(scope="module")
async def wallet_world(api: Api) -> dict[str, Any]:
    """Three users, six wallets with known balances, created inside a known time window."""
    start = datetime.now(UTC) - timedelta(milliseconds=5)
    ann = await api.person(username=f"wa_{uuid.uuid4().hex[:10]}")
    ben = await api.person(username=f"wb_{uuid.uuid4().hex[:10]}")
    cyd = await api.person(username=f"wc_{uuid.uuid4().hex[:10]}")
    ann_eur = await api.open_wallet(ann, "EUR")
    ben_gbp = await api.open_wallet(ben, "GBP")
    middle = datetime.now(UTC)
    cyd_eur = await api.open_wallet(cyd, "EUR")
    end = datetime.now(UTC) + timedelta(milliseconds=5)
    await api.fund(ann, "30.00")
    await api.fund(ann, "7.00", ann_eur)
    await api.fund(ben, "10.00")
    await api.fund(ben, "30.00", ben_gbp)
    await api.fund(cyd, "20.00")
    staff = await api.staff()
    frozen = await api.client.patch(
        f"{WALLET}/{cyd_eur}", json={"is_active": False}, headers=staff.headers
    )
    assert frozen.status_code == 200, frozen.text
    return {
        "start": start,
        "middle": middle,
        "end": end,
        "people": {"ann": ann, "ben": ben, "cyd": cyd},
        "wallets": {
            ann.wallet_id: ("ann", "USD", 3000, True),
            ann_eur: ("ann", "EUR", 700, True),
            ben.wallet_id: ("ben", "USD", 1000, True),
            ben_gbp: ("ben", "GBP", 3000, True),
            cyd.wallet_id: ("cyd", "USD", 2000, True),
            cyd_eur: ("cyd", "EUR", 0, False),
        },
    }


def _window(world: dict[str, Any]) -> dict[str, str]:
    return {
        "created_at_after": world["start"].isoformat().replace("+00:00", "Z"),
        "created_at_before": world["end"].isoformat().replace("+00:00", "Z"),
        "page_size": "100",
    }


async def test_staff_wallet_filters_have_known_answers(
    client: httpx.AsyncClient, api: Api, wallet_world: dict[str, Any]
) -> None:
    staff = await api.staff()
    wallets: dict[str, tuple[str, str, int, bool]] = wallet_world["wallets"]
    window = _window(wallet_world)

    async def ids(**params: str) -> set[str]:
        body = await list_wallets(client, staff, **window, **params)
        assert body["count"] == len(body["results"])
        return {w["id"] for w in body["results"]}

    def expect(pred: Any) -> set[str]:
        return {wid for wid, info in wallets.items() if pred(*info)}

    assert await ids() == set(wallets)
    assert await ids(currency="EUR") == expect(lambda o, c, b, a: c == "EUR")
    assert await ids(currency="USD") == expect(lambda o, c, b, a: c == "USD")
    assert await ids(balance_min="20.00") == expect(lambda o, c, b, a: b >= 2000)
    assert await ids(balance_max="10.00") == expect(lambda o, c, b, a: b <= 1000)
    assert await ids(balance_min="7", balance_max="20") == expect(
        lambda o, c, b, a: 700 <= b <= 2000
    )
    assert await ids(balance_min="30.00", currency="USD") == expect(
        lambda o, c, b, a: b >= 3000 and c == "USD"
    )
    assert await ids(is_active="false") == expect(lambda o, c, b, a: not a)
    assert await ids(is_active="true") == expect(lambda o, c, b, a: a)
    people = wallet_world["people"]
    assert await ids(user=people["ben"].username.upper()) == expect(lambda o, c, b, a: o == "ben")
    assert await ids(user=people["cyd"].id, is_active="true") == {people["cyd"].wallet_id}

    # created_at window halves: the wallets opened before `middle` and after it.
    middle = wallet_world["middle"].isoformat().replace("+00:00", "Z")
    early = {**window, "created_at_before": middle}
    late = {**window, "created_at_after": middle}
    early_ids = {w["id"] for w in (await list_wallets(client, staff, **early))["results"]}
    late_ids = {w["id"] for w in (await list_wallets(client, staff, **late))["results"]}
    cyd_eur = next(w for w, info in wallets.items() if info[:2] == ("cyd", "EUR"))
    assert late_ids == {cyd_eur}
    assert early_ids == set(wallets) - {cyd_eur}
    # Plain dates are accepted too (midnight UTC).
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    dated = await list_wallets(client, staff, **{**window, "created_at_before": tomorrow})
    assert {w["id"] for w in dated["results"]} == set(wallets)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    none = await list_wallets(client, staff, **{**window, "created_at_before": yesterday})
    assert none["count"] == 0


async def test_user_wallet_filters_apply_to_own_wallets_only(
    client: httpx.AsyncClient, wallet_world: dict[str, Any]
) -> None:
    ann = wallet_world["people"]["ann"]
    body = await list_wallets(client, ann, balance_min="10.00")
    assert [w["id"] for w in body["results"]] == [ann.wallet_id]
    eur = await list_wallets(client, ann, currency="EUR")
    assert [w["balance"] for w in eur["results"]] == ["7.00"]
    assert (await list_wallets(client, ann, is_active="false"))["count"] == 0


def _sorted_ids(
    wallets: dict[str, tuple[str, str, int, bool]],
    usernames: dict[str, str],
    keys: list[tuple[str, bool]],
) -> list[str]:
    value = {
        "balance": lambda w: wallets[w][2],
        "username": lambda w: usernames[wallets[w][0]],
        "is_active": lambda w: wallets[w][3],
    }
    ids = sorted(wallets, key=lambda w: uuid.UUID(w), reverse=keys[-1][1])
    for name, desc in reversed(keys):
        ids.sort(key=value[name], reverse=desc)
    return ids


@pytest.mark.parametrize(
    "ordering",
    [
        "balance",
        "-balance",
        "username,-balance",
        "-username,balance",
        "is_active,balance",
        "-is_active,-balance",
    ],
)
async def test_wallet_ordering(
    client: httpx.AsyncClient, api: Api, wallet_world: dict[str, Any], ordering: str
) -> None:
    staff = await api.staff()
    usernames = {k: p.username for k, p in wallet_world["people"].items()}
    keys = [(part.lstrip("-"), part.startswith("-")) for part in ordering.split(",")]
    body = await list_wallets(client, staff, **_window(wallet_world), ordering=ordering)
    got = [w["id"] for w in body["results"]]
    assert got == _sorted_ids(wallet_world["wallets"], usernames, keys)


async def test_wallet_ordering_by_created_at(
    client: httpx.AsyncClient, api: Api, wallet_world: dict[str, Any]
) -> None:
    staff = await api.staff()
    window = _window(wallet_world)
    up = await list_wallets(client, staff, **window, ordering="created_at")
    down = await list_wallets(client, staff, **window, ordering="-created_at")
    up_times = [ts(w["created_at"]) for w in up["results"]]
    assert up_times == sorted(up_times)
    assert len(up_times) == len(wallet_world["wallets"])
    assert [w["id"] for w in down["results"]] == [w["id"] for w in reversed(up["results"])]


async def test_wallet_pagination(
    client: httpx.AsyncClient, api: Api, wallet_world: dict[str, Any]
) -> None:
    staff = await api.staff()
    window = {**_window(wallet_world), "ordering": "balance", "page_size": "4"}
    everything = await list_wallets(client, staff, **{**window, "page_size": "100"})
    first = await list_wallets(client, staff, **window)
    assert first["count"] == 6
    assert len(first["results"]) == 4
    assert first["previous"] is None
    assert first["next"] is not None and "page=2" in first["next"]
    following = await client.get(first["next"], headers=staff.headers)
    assert following.status_code == 200
    second = following.json()
    assert second["next"] is None
    assert second["previous"] is not None
    assert len(second["results"]) == 2
    walked = [w["id"] for w in first["results"] + second["results"]]
    assert walked == [w["id"] for w in everything["results"]]
    back = await client.get(second["previous"], headers=staff.headers)
    assert [w["id"] for w in back.json()["results"]] == [w["id"] for w in first["results"]]

    # Keyset: follow next_cursor to the end.
    assert first["next_cursor"]
    seen: list[str] = [w["id"] for w in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await list_wallets(client, staff, **window, cursor=cursor)
        seen += [w["id"] for w in page["results"]]
        cursor = page["next_cursor"]
    assert seen == walked


@pytest.mark.parametrize(
    "params",
    [
        {"ordering": "owner"},
        {"ordering": "-nope"},
        {"page_size": "101"},
        {"page_size": "0"},
        {"page": "0"},
        {"page": "x"},
        {"is_active": "maybe"},
        {"created_at_after": "not-a-date"},
        {"created_at_before": "2024-13-45"},
        {"balance_min": "abc"},
        {"balance_max": "1.234"},
        {"cursor": "garbage!!"},
        {"currency": "XYZ"},
    ],
)
async def test_bad_wallet_list_params_are_400(
    client: httpx.AsyncClient, api: Api, params: dict[str, str]
) -> None:
    alice = await api.person()
    response = await client.get(WALLET, params=params, headers=alice.headers)
    assert_problem(response, 400, "validation_error")


# Freezing -----------------------------------------------------------------------------------------


async def freeze(client: httpx.AsyncClient, staff: Person, wallet_id: str, active: bool) -> None:
    response = await client.patch(
        f"{WALLET}/{wallet_id}", json={"is_active": active}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    assert_wallet_shape(response.json())
    assert response.json()["is_active"] is active


async def test_patch_is_staff_only(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    own = await client.patch(
        f"{WALLET}/{alice.wallet_id}", json={"is_active": False}, headers=alice.headers
    )
    assert_problem(own, 403, "forbidden")
    assert (await api.wallet(alice))["is_active"] is True

    staff = await api.staff()
    missing = await client.patch(
        f"{WALLET}/{uuid.uuid4()}", json={"is_active": False}, headers=staff.headers
    )
    assert_problem(missing, 404, "not_found")
    for body in ({"is_active": "no"}, {}, {"is_active": False, "balance": "9.00"}):
        bad = await client.patch(f"{WALLET}/{alice.wallet_id}", json=body, headers=staff.headers)
        assert_problem(bad, 400, "validation_error")
    assert (await api.wallet(alice))["is_active"] is True


async def test_frozen_wallet_cannot_send_receive_or_cash_out(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    await api.fund(bob, "50.00")
    before = await api.wallet(alice)
    await freeze(client, staff, alice.wallet_id, False)
    frozen = await api.wallet(alice)
    assert frozen["is_active"] is False
    assert ts(frozen["updated_at"]) >= ts(before["updated_at"])

    assert_problem(await api.send(alice, bob, "5.00"), 403, "wallet_frozen")
    assert_problem(await api.send(bob, alice, "5.00"), 403, "wallet_frozen")
    assert_problem(await api.send(bob, alice.wallet_id, "5.00"), 403, "wallet_frozen")
    cash_out = await client.post(
        TX, json={"type": "withdrawal", "amount": "5.00"}, headers={**alice.headers, **idem()}
    )
    assert_problem(cash_out, 403, "wallet_frozen")
    deposit = await client.post(
        TX,
        json={"type": "deposit", "amount": "5.00", "wallet_id": alice.wallet_id},
        headers={**staff.headers, **idem()},
    )
    assert_problem(deposit, 403, "wallet_frozen")

    # Nothing moved anywhere.
    assert (await api.wallet(alice))["balance"] == "50.00"
    assert (await api.wallet(alice))["held_balance"] == "0.00"
    assert (await api.wallet(bob))["available_balance"] == "50.00"
    listed = await client.get(TX, headers=alice.headers)
    assert listed.json()["count"] == 1  # the funding deposit only

    await freeze(client, staff, alice.wallet_id, True)
    sent = await api.send(alice, bob, "5.00")
    assert sent.status_code == 201, sent.text
    received = await api.send(bob, alice, "7.00")
    assert received.status_code == 201, received.text
    assert (await api.act(alice, received.json()["id"], "accept")).status_code == 200
    wallet = await api.wallet(alice)
    assert wallet["balance"] == "57.00"
    assert wallet["available_balance"] == "52.00"
    await api.audit_clean()


async def test_pending_transfer_to_a_wallet_frozen_later_cannot_be_accepted(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    sent = await api.send(alice, bob, "8.00")
    assert sent.status_code == 201
    await freeze(client, staff, bob.wallet_id, False)
    assert_problem(await api.act(bob, sent.json()["id"], "accept"), 403, "wallet_frozen")
    assert (await api.wallet(bob))["balance"] == "0.00"
    assert (await api.wallet(alice))["held_balance"] == "8.00"
    await freeze(client, staff, bob.wallet_id, True)
    accepted = await api.act(bob, sent.json()["id"], "accept")
    assert accepted.status_code == 200, accepted.text
    assert (await api.wallet(bob))["balance"] == "8.00"
    assert (await api.wallet(alice))["balance"] == "12.00"
    await api.audit_clean()


async def test_freezing_one_currency_leaves_the_others_usable(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    alice, bob = await api.person(), await api.person()
    alice_eur = await api.open_wallet(alice, "EUR")
    await api.open_wallet(bob, "EUR")
    await api.fund(alice, "10.00", alice_eur)
    await api.fund(alice, "10.00")
    await freeze(client, staff, alice.wallet_id, False)
    assert_problem(await api.send(alice, bob, "1.00"), 403, "wallet_frozen")
    eur = await api.send(alice, bob, "1.00", wallet_id=alice_eur)
    assert eur.status_code == 201, eur.text
    assert eur.json()["currency"] == "EUR"


def _signed(body: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", **sign(raw, secret)}


async def test_frozen_wallet_cannot_complete_a_cash_out_or_take_a_paysend_deposit(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    alice = await api.person()
    await api.fund(alice, "30.00")
    created = await client.post(
        TX, json={"type": "withdrawal", "amount": "10.00"}, headers={**alice.headers, **idem()}
    )
    assert created.status_code == 201, created.text
    code = created.json()["withdrawal_code"]
    await freeze(client, staff, alice.wallet_id, False)

    raw, headers = _signed(
        {"phone_number": alice.phone_number, "withdrawal_code": code}, ATM_SECRET
    )
    refused = await client.post("/api/v1/wallet/webhook/cashout", content=raw, headers=headers)
    assert_problem(refused, 403, "wallet_frozen")
    paysend, paysend_headers = _signed(
        {
            "transactionId": f"frozen-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": alice.phone_number, "amount": "5.00"},
        },
        WEBHOOK_SECRET,
    )
    deposit = await client.post(
        "/api/v1/wallet/webhook/paysend", content=paysend, headers=paysend_headers
    )
    assert_problem(deposit, 403, "wallet_frozen")
    wallet = await api.wallet(alice)
    assert (wallet["balance"], wallet["held_balance"]) == ("30.00", "10.00")
    tx = await client.get(f"{TX}/{created.json()['id']}", headers=alice.headers)
    assert tx.json()["status"] == "pending"

    await freeze(client, staff, alice.wallet_id, True)
    raw, headers = _signed(
        {"phone_number": alice.phone_number, "withdrawal_code": code}, ATM_SECRET
    )
    approved = await client.post("/api/v1/wallet/webhook/cashout", content=raw, headers=headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    wallet = await api.wallet(alice)
    assert (wallet["balance"], wallet["held_balance"]) == ("20.00", "0.00")
    await api.audit_clean()


async def test_opening_a_wallet_honours_an_idempotency_key(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    headers = {**person.headers, "Idempotency-Key": f"open-{person.id}"}
    first = await client.post("/api/v1/wallet", json={"currency": "GBP"}, headers=headers)
    again = await client.post("/api/v1/wallet", json={"currency": "GBP"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    plain = await client.post("/api/v1/wallet", json={"currency": "GBP"}, headers=person.headers)
    assert plain.status_code == 409
    assert plain.json()["code"] == "already_exists"
    reused = await client.post("/api/v1/wallet", json={"currency": "EUR"}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
