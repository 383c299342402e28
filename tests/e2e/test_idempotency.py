"""Idempotency-Key on ``POST /wallet/transactions`` and ``.../{id}/action`` (docs/api.md
"Idempotency"): required, validated, replayed with ``Idempotent-Replayed: true``, never moving money
twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from entrypoints.bootstrap import Container
from support import Api, Person, assert_problem

TX = "/api/v1/wallet/transactions"


def key() -> str:
    return uuid.uuid4().hex


def transfer(recipient: Person, amount: str = "10.00", **extra: Any) -> dict[str, Any]:
    return {"type": "transfer", "amount": amount, "recipient": recipient.username, **extra}


async def post(
    client: httpx.AsyncClient, who: Person, body: dict[str, Any], idem_key: str | None
) -> httpx.Response:
    headers = dict(who.headers)
    if idem_key is not None:
        headers["Idempotency-Key"] = idem_key
    return await client.post(TX, json=body, headers=headers)


async def act(
    client: httpx.AsyncClient, who: Person, tx_id: str, action: str, idem_key: str | None
) -> httpx.Response:
    headers = dict(who.headers)
    if idem_key is not None:
        headers["Idempotency-Key"] = idem_key
    return await client.post(f"{TX}/{tx_id}/action", json={"action": action}, headers=headers)


async def balance(api: Api, who: Person) -> tuple[str, str, str]:
    w = await api.wallet(who)
    return w["balance"], w["available_balance"], w["held_balance"]


async def count_transfers(client: httpx.AsyncClient, who: Person) -> int:
    response = await client.get(TX, params={"type": "transfer"}, headers=who.headers)
    assert response.status_code == 200
    count: int = response.json()["count"]
    return count


async def test_key_is_required_on_create_and_action(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    missing = await post(client, alice, transfer(bob), None)
    assert_problem(missing, 400, "idempotency_key_missing")
    cash = await post(client, alice, {"type": "withdrawal", "amount": "1.00"}, None)
    assert_problem(cash, 400, "idempotency_key_missing")
    assert await balance(api, alice) == ("20.00", "20.00", "0.00")

    tx = (await api.send(alice, bob, "5.00")).json()
    no_key = await act(client, bob, tx["id"], "accept", None)
    assert_problem(no_key, 400, "idempotency_key_missing")
    assert await balance(api, bob) == ("0.00", "0.00", "0.00")
    assert await balance(api, alice) == ("20.00", "15.00", "5.00")


@pytest.mark.parametrize(
    "bad",
    [
        "k" * 256,
        "has space",
        "tab\there",
        "caf\u00e9",
        "bell\x07",
        "del\x7f",
    ],
)
async def test_invalid_keys_are_refused(client: httpx.AsyncClient, api: Api, bad: str) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    headers = {**alice.headers, "Idempotency-Key": bad.encode("utf-8")}
    response = await client.post(TX, json=transfer(bob), headers=headers)  # type: ignore[arg-type]
    assert_problem(response, 400, "idempotency_key_invalid")
    tx = (await api.send(alice, bob, "1.00")).json()
    action = await client.post(
        f"{TX}/{tx['id']}/action",
        json={"action": "accept"},
        headers={**bob.headers, "Idempotency-Key": bad.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert_problem(action, 400, "idempotency_key_invalid")
    assert await balance(api, alice) == ("20.00", "19.00", "1.00")
    assert await count_transfers(client, alice) == 1


async def test_empty_key_is_refused(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    response = await post(client, alice, transfer(bob), "")
    assert response.status_code == 400
    assert response.json()["code"] in {"idempotency_key_invalid", "idempotency_key_missing"}
    assert await balance(api, alice) == ("20.00", "20.00", "0.00")


async def test_longest_key_is_fine(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    longest = "~" + "K" * 253 + "!"
    assert len(longest) == 255
    first = await post(client, alice, transfer(bob), longest)
    assert first.status_code == 201, first.text
    again = await post(client, alice, transfer(bob), longest)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance(api, alice) == ("20.00", "10.00", "10.00")


async def test_replay_returns_the_first_outcome_and_moves_nothing(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    k = key()
    first = await post(client, alice, transfer(bob, description="rent"), k)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = await post(client, alice, transfer(bob, description="rent"), k)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.content == first.content
    # Key order and whitespace in the JSON do not make it a different request.
    reordered = json.dumps(
        {"description": "rent", "recipient": bob.username, "amount": "10.00", "type": "transfer"},
        indent=2,
    )
    same = await client.post(
        TX,
        content=reordered,
        headers={**alice.headers, "Idempotency-Key": k, "Content-Type": "application/json"},
    )
    assert same.status_code == 201, same.text
    assert same.headers["idempotent-replayed"] == "true"
    assert same.json()["id"] == first.json()["id"]
    assert await balance(api, alice) == ("50.00", "40.00", "10.00")
    assert (await api.wallet(bob))["pending_incoming"] == "10.00"
    assert await count_transfers(client, alice) == 1
    await api.audit_clean()


async def test_same_key_different_body_is_422(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    k = key()
    assert (await post(client, alice, transfer(bob), k)).status_code == 201
    reused = await post(client, alice, transfer(bob, amount="11.00"), k)
    assert_problem(reused, 422, "idempotency_key_reused")
    assert "idempotent-replayed" not in reused.headers
    other_type = await post(client, alice, {"type": "withdrawal", "amount": "10.00"}, k)
    assert_problem(other_type, 422, "idempotency_key_reused")
    assert await balance(api, alice) == ("50.00", "40.00", "10.00")
    assert await count_transfers(client, alice) == 1


async def test_key_scope_is_per_user_and_per_endpoint(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob, carol = await api.person(), await api.person(), await api.person()
    await api.fund(alice, "50.00")
    await api.fund(carol, "50.00")
    k = key()
    mine = await post(client, alice, transfer(bob), k)
    theirs = await post(client, carol, transfer(bob), k)
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    # The same key on the action endpoint is a different scope.
    accepted = await act(client, bob, mine.json()["id"], "accept", k)
    assert accepted.status_code == 200, accepted.text
    assert "idempotent-replayed" not in accepted.headers
    assert (await api.wallet(bob))["balance"] == "10.00"
    assert (await api.wallet(bob))["pending_incoming"] == "10.00"


async def test_stored_business_error_replays(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "5.00")
    k = key()
    first = await post(client, alice, transfer(bob, amount="20.00"), k)
    body = assert_problem(first, 422, "insufficient_funds")
    await api.fund(alice, "100.00")
    again = await post(client, alice, transfer(bob, amount="20.00"), k)
    assert again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json() == body
    assert await balance(api, alice) == ("105.00", "105.00", "0.00")
    assert await count_transfers(client, alice) == 0
    # A fresh key does go through now.
    assert (await post(client, alice, transfer(bob, amount="20.00"), key())).status_code == 201


async def test_action_replay(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "30.00")
    tx = (await api.send(alice, bob, "30.00")).json()
    k = key()
    first = await act(client, bob, tx["id"], "accept", k)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    again = await act(client, bob, tx["id"], "accept", k)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # A different key is a new request, and the transfer is no longer pending.
    assert_problem(await act(client, bob, tx["id"], "accept", key()), 409, "not_pending")
    # Same key, other action: a different request body.
    assert_problem(await act(client, bob, tx["id"], "reject", k), 422, "idempotency_key_reused")
    assert await balance(api, bob) == ("30.00", "30.00", "0.00")
    assert await balance(api, alice) == ("0.00", "0.00", "0.00")
    await api.audit_clean()


async def test_action_error_outcome_replays(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "30.00")
    tx = (await api.send(alice, bob, "30.00")).json()
    assert (await api.act(alice, tx["id"], "cancel")).status_code == 200
    k = key()
    first = await act(client, bob, tx["id"], "accept", k)
    body = assert_problem(first, 409, "not_pending")
    again = await act(client, bob, tx["id"], "accept", k)
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == body


async def test_withdrawal_replay_moves_once(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    await api.fund(alice, "30.00")
    k = key()
    body = {"type": "withdrawal", "amount": "12.00"}
    first = await post(client, alice, body, k)
    assert first.status_code == 201, first.text
    again = await post(client, alice, body, k)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await balance(api, alice) == ("30.00", "18.00", "12.00")


async def test_staff_deposit_replay_credits_once(client: httpx.AsyncClient, api: Api) -> None:
    staff, alice = await api.staff(), await api.person()
    k = key()
    body = {"type": "deposit", "amount": "9.99", "wallet_id": alice.wallet_id}
    first = await post(client, staff, body, k)
    assert first.status_code == 201, first.text
    again = await post(client, staff, body, k)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await balance(api, alice) == ("9.99", "9.99", "0.00")


async def test_concurrent_duplicates_move_money_once(client: httpx.AsyncClient, api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "100.00")
    k = key()
    responses = await asyncio.gather(*(post(client, alice, transfer(bob), k) for _ in range(8)))
    created = [r for r in responses if r.status_code == 201]
    assert created, [r.text for r in responses]
    assert len({r.json()["id"] for r in created}) == 1
    fresh = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    for r in responses:
        if r.status_code != 201:
            assert_problem(r, 409, "idempotency_key_in_progress")
    assert await balance(api, alice) == ("100.00", "90.00", "10.00")
    assert await count_transfers(client, alice) == 1
    await api.audit_clean()


async def _wait_until_in_flight(container: Container) -> None:
    """Until the first request is inside its write (its key taken), waiting on the row the test
    holds. Its receipt is not visible before it commits: the wait shows in ``pg_locks``."""
    for _ in range(500):
        async with container.storage.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE NOT l.granted AND a.datname = current_database()"
                    )
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first request never reached its write")


async def test_in_flight_duplicate_is_409_then_replays(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "100.00")
    k = key()
    engine = container.storage.engine
    # Hold the sender's account row so the first request stalls inside its unit of work.
    async with engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(
            text("SELECT id FROM accounts WHERE id = :id FOR UPDATE"),
            {"id": uuid.UUID(alice.wallet_id)},
        )
        first = asyncio.create_task(post(client, alice, transfer(bob), k))
        try:
            await _wait_until_in_flight(container)
            second = await post(client, alice, transfer(bob), k)
            assert_problem(second, 409, "idempotency_key_in_progress")
            assert not first.done()
        finally:
            await transaction.rollback()
        done = await asyncio.wait_for(first, timeout=10)
    assert done.status_code == 201, done.text
    third = await post(client, alice, transfer(bob), k)
    assert third.status_code == 201
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json() == done.json()
    assert await balance(api, alice) == ("100.00", "90.00", "10.00")
    assert await count_transfers(client, alice) == 1
    await api.audit_clean()


async def test_in_flight_duplicate_action(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    tx = (await api.send(alice, bob, "10.00")).json()
    k = key()
    engine = container.storage.engine
    async with engine.connect() as blocker:
        transaction = await blocker.begin()
        await blocker.execute(
            text("SELECT id FROM transactions WHERE id = :id FOR UPDATE"),
            {"id": uuid.UUID(tx["id"])},
        )
        first = asyncio.create_task(act(client, bob, tx["id"], "accept", k))
        try:
            await _wait_until_in_flight(container)
            second = await act(client, bob, tx["id"], "accept", k)
            assert_problem(second, 409, "idempotency_key_in_progress")
        finally:
            await transaction.rollback()
        done = await asyncio.wait_for(first, timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert (await api.wallet(bob))["balance"] == "10.00"
    await api.audit_clean()
