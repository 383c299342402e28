"""Staff reversals over HTTP: back the way the money came, partial or full, never more than the
original, funds and frozen checks on the debited side, idempotent, shown on the original, emailed
to both parties, and on both parties' statements."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from support import Api, Person, assert_problem, idem

URL = "/api/v1/wallet/transactions"


async def reverse(
    client: httpx.AsyncClient,
    who: Person,
    transaction_id: str,
    key: str | None = None,
    **body: Any,
) -> httpx.Response:
    body.setdefault("reason", "customer complaint")
    headers = {**who.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"{URL}/{transaction_id}/reverse", json=body, headers=headers)


async def _accepted(api: Api, sender: Person, recipient: Person, amount: str) -> dict[str, Any]:
    sent = (await api.send(sender, recipient, amount)).json()
    accepted = await api.act(recipient, sent["id"], "accept")
    assert accepted.status_code == 200, accepted.text
    result: dict[str, Any] = accepted.json()
    return result


async def test_a_transfer_is_reversed_in_parts_then_refused(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "100.00")
    original = await _accepted(api, alice, bob, "40.00")
    first = await reverse(client, staff, original["id"], amount="15.00", reason="duplicate")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["type"], body["status"], body["amount"]) == ("reversal", "completed", "15.00")
    assert body["reverses"] == original["id"]
    assert body["sender"]["wallet_id"] == bob.wallet_id
    assert body["recipient"]["wallet_id"] == alice.wallet_id
    assert body["description"] == "duplicate"
    assert body["reference"].startswith("REV-")
    assert (await api.wallet(alice))["balance"] == "75.00"
    assert (await api.wallet(bob))["balance"] == "25.00"
    read = await client.get(f"{URL}/{original['id']}", headers=alice.headers)
    assert read.json()["reversed_amount"] == "15.00"
    too_much = await reverse(client, staff, original["id"], amount="25.01")
    assert_problem(too_much, 422, "invalid_amount")
    rest = await reverse(client, staff, original["id"])  # defaults to what is left
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == "25.00"
    read = await client.get(f"{URL}/{original['id']}", headers=bob.headers)
    assert read.json()["reversed_amount"] == "40.00"
    assert_problem(await reverse(client, staff, original["id"]), 422, "invalid_amount")
    assert_problem(await reverse(client, staff, first.json()["id"]), 409, "not_reversible")
    # both parties see the reversals in their lists and statements
    for person, sign in ((alice, ""), (bob, "-")):
        listed = await client.get(URL, params={"type": "reversal"}, headers=person.headers)
        assert {t["id"] for t in listed.json()["results"]} == {
            first.json()["id"],
            rest.json()["id"],
        }
        lines = await client.get(
            f"/api/v1/wallet/{person.wallet_id}/entries", headers=person.headers
        )
        assert [(e["type"], e["amount"]) for e in lines.json()["results"][:2]] == [
            ("reversal", f"{sign}25.00"),
            ("reversal", f"{sign}15.00"),
        ]
    await api.audit_clean()


async def test_deposit_and_withdrawal_reversals_go_back_to_their_source(
    api: Api, client: httpx.AsyncClient, container: Any
) -> None:
    alice = await api.person()
    staff = await api.staff()
    deposit = await api.fund(alice, "30.00")
    back = await reverse(client, staff, deposit["id"], amount="10.00")
    assert back.status_code == 201, back.text
    assert back.json()["sender"]["wallet_id"] == alice.wallet_id
    assert back.json()["recipient"] is None
    assert back.json()["funding_source"] == "manual"
    assert (await api.wallet(alice))["balance"] == "20.00"
    cashout = await client.post(
        URL, json={"type": "withdrawal", "amount": "5.00"}, headers={**alice.headers, **idem()}
    )
    code = cashout.json()["withdrawal_code"]
    verified = await container.core.cashouts.verify(alice.phone_number, code)
    assert verified.status.value == "completed"
    assert (await api.wallet(alice))["balance"] == "15.00"
    returned = await reverse(client, staff, cashout.json()["id"])
    assert returned.status_code == 201, returned.text
    assert returned.json()["recipient"]["wallet_id"] == alice.wallet_id
    assert (await api.wallet(alice))["balance"] == "20.00"
    await api.audit_clean()


async def test_only_completed_transactions_by_staff(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "10.00")
    pending = (await api.send(alice, bob, "1.00")).json()
    assert_problem(await reverse(client, staff, pending["id"]), 409, "not_reversible")
    done = await _accepted(api, alice, bob, "2.00")
    assert_problem(await reverse(client, alice, done["id"]), 403, "forbidden")
    assert_problem(await reverse(client, staff, str(uuid.uuid4())), 404, "not_found")
    for body in ({"reason": ""}, {"reason": "x" * 141}, {"reason": "ok", "amount": 1}, {}):
        response = await client.post(
            f"{URL}/{done['id']}/reverse", json=body, headers={**staff.headers, **idem()}
        )
        assert_problem(response, 400)
    missing_key = await client.post(
        f"{URL}/{done['id']}/reverse", json={"reason": "x"}, headers=staff.headers
    )
    assert_problem(missing_key, 400, "idempotency_key_missing")
    for amount in ("0.00", "-1.00", "0.001", "abc"):
        assert_problem(await reverse(client, staff, done["id"], amount=amount), 422)


async def test_the_debited_wallet_needs_funds_and_must_be_active(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "50.00")
    original = await _accepted(api, alice, bob, "20.00")
    spent = await _accepted(api, bob, alice, "15.00")
    assert spent["status"] == "completed"
    short = await reverse(client, staff, original["id"], amount="6.00")
    assert_problem(short, 422, "insufficient_funds")
    frozen = await client.patch(
        f"/api/v1/wallet/{bob.wallet_id}", json={"is_active": False}, headers=staff.headers
    )
    assert frozen.status_code == 200
    assert_problem(
        await reverse(client, staff, original["id"], amount="1.00"), 403, "wallet_frozen"
    )
    await client.patch(
        f"/api/v1/wallet/{bob.wallet_id}", json={"is_active": True}, headers=staff.headers
    )
    # the credited side may be frozen: it is paid back
    await client.patch(
        f"/api/v1/wallet/{alice.wallet_id}", json={"is_active": False}, headers=staff.headers
    )
    ok = await reverse(client, staff, original["id"], amount="5.00")
    assert ok.status_code == 201, ok.text
    await api.audit_clean()


async def test_a_reversal_is_idempotent(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "10.00")
    original = await _accepted(api, alice, bob, "4.00")
    key = uuid.uuid4().hex
    first = await reverse(client, staff, original["id"], key=key, amount="1.00")
    again = await reverse(client, staff, original["id"], key=key, amount="1.00")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    reused = await reverse(client, staff, original["id"], key=key, amount="2.00")
    assert_problem(reused, 422, "idempotency_key_reused")
    read = await client.get(f"{URL}/{original['id']}", headers=staff.headers)
    assert read.json()["reversed_amount"] == "1.00"


async def test_both_parties_are_emailed(api: Api, database_url: str) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "10.00")
    original = await _accepted(api, alice, bob, "3.00")
    response = await reverse(api.client, staff, original["id"], amount="1.00", reason="typo")
    reversal = response.json()
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT kind, user_id FROM outbox_events WHERE payload->>'transaction_id' = $1",
            reversal["id"],
        )
    finally:
        await conn.close()
    assert sorted((r["kind"], str(r["user_id"])) for r in rows) == sorted(
        [("reversal_credited", alice.id), ("reversal_debited", bob.id)]
    )


async def test_a_reversal_tells_integrators_on_the_original_and_on_itself(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    await api.fund(alice, "30.00")
    original = await _accepted(api, alice, bob, "20.00")
    made = await reverse(client, staff, original["id"], amount="5.00")
    assert made.status_code == 201, made.text
    for person in (alice, bob):
        on_original = await client.get(
            "/api/v1/events", params={"transaction": original["id"]}, headers=person.headers
        )
        assert on_original.status_code == 200, on_original.text
        newest = on_original.json()["results"][0]
        assert newest["type"] == "transaction.reversed"
        assert newest["data"]["transaction"]["reversed_amount"] == "5.00"
        on_reversal = await client.get(
            "/api/v1/events", params={"transaction": made.json()["id"]}, headers=person.headers
        )
        types = sorted(e["type"] for e in on_reversal.json()["results"])
        assert types == ["transaction.completed", "transaction.created"]
        assert on_reversal.json()["results"][0]["data"]["transaction"]["reverses"] == original["id"]
