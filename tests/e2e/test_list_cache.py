"""The transaction-list cache (docs/api.md "Caching"): an identical second list is served without
the database, and EVERY change that affects a user's transactions — whoever makes it — invalidates
that user's pages before it is acknowledged. Balances are never cached."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from entrypoints.bootstrap import Container, build
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings
from environment import ATM_SECRET, WEBHOOK_SECRET
from support import Api, Person, idem
from wallet_core.local import MemoryNotifier
from wallet_core.testing.fakes import ManualClock

TX = "/api/v1/wallet/transactions"
WALLET = "/api/v1/wallet"


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs."""
    seen: list[str] = []
    engine = container.storage.engine.sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def listing(
    client: httpx.AsyncClient, who: Person, params: dict[str, Any] | None = None
) -> httpx.Response:
    response = await client.get(TX, params=params or {}, headers=who.headers)
    assert response.status_code == 200, response.text
    return response


async def primed(
    client: httpx.AsyncClient,
    container: Container,
    who: Person,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """List twice: the second answer must come from the cache, without touching the database.

    (Up to three tries: another test session sharing the Redis database may bump the global
    generation or flush between the two reads; that only ever causes a miss, never a false hit.)
    """
    for _ in range(3):
        first = await listing(client, who, params)
        with statements(container) as seen:
            second = await listing(client, who, params)
        if second.headers["x-cache"] == "hit":
            break
    assert second.headers["x-cache"] == "hit"
    assert seen == []
    assert second.content == first.content
    body: dict[str, Any] = second.json()
    return body


async def fresh(
    client: httpx.AsyncClient,
    container: Container,
    who: Person,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The list right after a change: recomputed from the database, not the stale page."""
    with statements(container) as seen:
        response = await listing(client, who, params)
    assert response.headers["x-cache"] == "miss"
    assert seen, "a recomputed page must read the database"
    body: dict[str, Any] = response.json()
    return body


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {t["id"]: t["status"] for t in body["results"]}


async def test_second_identical_list_does_not_touch_the_database(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    await api.fund(alice, "10.00")
    first = await listing(client, alice, {"page_size": "5"})
    assert first.headers["x-cache"] == "miss"
    body = await primed(client, container, alice, {"page_size": "5"})
    assert body["count"] == 1
    # Another query is another page.
    other = await listing(client, alice, {"page_size": "6"})
    assert other.headers["x-cache"] == "miss"


async def test_pages_are_per_user(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    alice_page = await primed(client, container, alice, {"page_size": "7"})
    bobs = await listing(client, bob, {"page_size": "7"})
    assert bobs.headers["x-cache"] == "miss"
    assert bobs.json()["count"] == 0
    assert alice_page["count"] == 1
    staff = await api.staff()
    staff_page = await listing(client, staff, {"page_size": "7", "involving_user": alice.id})
    assert staff_page.json()["count"] == 1


async def test_cached_pages_expire_with_the_configured_ttl(
    client: httpx.AsyncClient, api: Api, container: Container, settings: Settings
) -> None:
    alice = await api.person()
    await primed(client, container, alice)
    assert container.redis is not None
    keys = [k async for k in container.redis.scan_iter(match=f"txl:page:{alice.id}:*")]
    assert keys
    for k in keys:
        ttl = await container.redis.ttl(k)
        assert 0 < ttl <= settings.cache_ttl_seconds


async def test_own_transfer_invalidates_both_parties(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    await primed(client, container, alice)
    await primed(client, container, bob)
    tx = (await api.send(alice, bob, "5.00")).json()
    assert tx["id"] in statuses(await fresh(client, container, alice))
    assert statuses(await fresh(client, container, bob)) == {tx["id"]: "pending"}


async def test_transfer_made_by_someone_else_invalidates_the_recipient(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(bob, "50.00")
    assert (await primed(client, container, alice))["count"] == 0
    tx = (await api.send(bob, alice, "5.00")).json()
    assert statuses(await fresh(client, container, alice)) == {tx["id"]: "pending"}


@pytest.mark.parametrize(
    ("actor", "action", "watcher", "status"),
    [
        ("bob", "accept", "alice", "completed"),
        ("bob", "reject", "alice", "rejected"),
        ("alice", "cancel", "bob", "cancelled"),
        ("bob", "accept", "bob", "completed"),
        ("alice", "cancel", "alice", "cancelled"),
    ],
)
async def test_every_action_invalidates_both_parties(
    client: httpx.AsyncClient,
    api: Api,
    container: Container,
    actor: str,
    action: str,
    watcher: str,
    status: str,
) -> None:
    people = {"alice": await api.person(), "bob": await api.person()}
    alice, bob = people["alice"], people["bob"]
    await api.fund(alice, "50.00")
    tx = (await api.send(alice, bob, "5.00")).json()
    before = await primed(client, container, people[watcher], {"type": "transfer"})
    assert statuses(before) == {tx["id"]: "pending"}
    assert (await api.act(people[actor], tx["id"], action)).status_code == 200
    after = await fresh(client, container, people[watcher], {"type": "transfer"})
    assert statuses(after) == {tx["id"]: status}


async def test_staff_deposit_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    assert (await primed(client, container, alice))["count"] == 0
    deposit = await api.fund(alice, "3.00")
    assert statuses(await fresh(client, container, alice)) == {deposit["id"]: "completed"}


async def test_paysend_webhook_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    assert (await primed(client, container, alice))["count"] == 0
    body = json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": alice.phone_number, "amount": "12.00"},
        }
    ).encode()
    response = await client.post(
        "/api/v1/wallet/webhook/paysend",
        content=body,
        headers={"Content-Type": "application/json", **sign(body, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    after = await fresh(client, container, alice)
    assert statuses(after) == {response.json()["transaction_id"]: "completed"}
    assert after["results"][0]["funding_source"] == "paysend"
    assert (await api.wallet(alice))["balance"] == "12.00"


async def _cashout_webhook(client: httpx.AsyncClient, who: Person, code: str) -> httpx.Response:
    body = json.dumps({"phone_number": who.phone_number, "withdrawal_code": code}).encode()
    return await client.post(
        "/api/v1/wallet/webhook/cashout",
        content=body,
        headers={"Content-Type": "application/json", **sign(body, ATM_SECRET)},
    )


async def test_cash_out_request_and_verification_invalidate(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    await api.fund(alice, "20.00")
    await primed(client, container, alice, {"type": "withdrawal"})
    created = await client.post(
        TX, json={"type": "withdrawal", "amount": "8.00"}, headers={**alice.headers, **idem()}
    )
    assert created.status_code == 201
    tx_id, code = created.json()["id"], created.json()["withdrawal_code"]
    after = await fresh(client, container, alice, {"type": "withdrawal"})
    assert statuses(after) == {tx_id: "pending"}
    await primed(client, container, alice, {"type": "withdrawal"})
    verified = await _cashout_webhook(client, alice, code)
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "approved"
    after = await fresh(client, container, alice, {"type": "withdrawal"})
    assert statuses(after) == {tx_id: "completed"}
    assert (await api.wallet(alice))["balance"] == "12.00"


async def test_cash_out_cancelled_by_bad_codes_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    await api.fund(alice, "20.00")
    created = await client.post(
        TX, json={"type": "withdrawal", "amount": "8.00"}, headers={**alice.headers, **idem()}
    )
    tx_id = created.json()["id"]
    for _ in range(4):
        wrong = await _cashout_webhook(client, alice, "WRONGCODE99")
        assert wrong.json()["code"] == "invalid_withdrawal_code"
    await primed(client, container, alice, {"type": "withdrawal"})
    last = await _cashout_webhook(client, alice, "WRONGCODE99")
    assert last.json()["code"] == "too_many_attempts"
    after = await fresh(client, container, alice, {"type": "withdrawal"})
    assert statuses(after) == {tx_id: "cancelled"}
    assert (await api.wallet(alice))["available_balance"] == "20.00"


async def test_cash_out_cancel_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    await api.fund(alice, "20.00")
    created = await client.post(
        TX, json={"type": "withdrawal", "amount": "8.00"}, headers={**alice.headers, **idem()}
    )
    await primed(client, container, alice, {"status": "pending"})
    assert (await api.act(alice, created.json()["id"], "cancel")).status_code == 200
    assert (await fresh(client, container, alice, {"status": "pending"}))["count"] == 0


@pytest.fixture(scope="module")
async def yesterday(make_settings: Callable[..., Settings]) -> AsyncIterator[Container]:
    """A container whose clock runs 25 hours behind: what it creates is already due."""
    container = build(
        make_settings(),
        clock=ManualClock(datetime.now(UTC) - timedelta(hours=25)),
        notifier=MemoryNotifier(),
    )
    yield container
    await container.close()


async def test_expiry_job_invalidates_both_parties(
    client: httpx.AsyncClient, api: Api, container: Container, yesterday: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    deposit = await api.fund(alice, "20.00")
    old = await yesterday.core.transfers.create_transfer(
        alice.actor, amount="4.00", recipient=bob.username
    )
    cash = await yesterday.core.cashouts.request(alice.actor, amount="3.00")
    assert statuses(await primed(client, container, alice)) == {
        str(old.id): "pending",
        str(cash.transaction.id): "pending",
        deposit["id"]: "completed",
    }
    assert statuses(await primed(client, container, bob)) == {str(old.id): "pending"}
    assert await container.core.expiry.expire_due() >= 2
    after = statuses(await fresh(client, container, alice))
    assert after[str(old.id)] == "expired"
    assert after[str(cash.transaction.id)] == "expired"
    assert statuses(await fresh(client, container, bob)) == {str(old.id): "expired"}
    assert (await api.wallet(alice))["available_balance"] == "20.00"


async def test_late_action_that_expires_the_transfer_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container, yesterday: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    old = await yesterday.core.transfers.create_transfer(
        alice.actor, amount="4.00", recipient=bob.username
    )
    await primed(client, container, alice, {"type": "transfer"})
    await primed(client, container, bob, {"type": "transfer"})
    late = await api.act(bob, str(old.id), "accept")
    assert late.status_code == 422 and late.json()["code"] == "expired"
    for who in (alice, bob):
        after = await fresh(client, container, who, {"type": "transfer"})
        assert statuses(after) == {str(old.id): "expired"}


async def test_late_cash_out_verification_invalidates(
    client: httpx.AsyncClient, api: Api, container: Container, yesterday: Container
) -> None:
    alice = await api.person()
    await api.fund(alice, "20.00")
    cash = await yesterday.core.cashouts.request(alice.actor, amount="3.00")
    await primed(client, container, alice, {"type": "withdrawal"})
    late = await _cashout_webhook(client, alice, cash.withdrawal_code)
    assert late.status_code == 422 and late.json()["code"] == "expired"
    after = await fresh(client, container, alice, {"type": "withdrawal"})
    assert statuses(after) == {str(cash.transaction.id): "expired"}
    assert (await api.wallet(alice))["available_balance"] == "20.00"


async def test_staff_pages_are_invalidated_by_any_change(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    staff = await api.staff()
    alice, bob = await api.person(), await api.person()
    await api.fund(bob, "10.00")
    query = {"involving_user": alice.username}
    assert (await primed(client, container, staff, query))["count"] == 0
    tx = (await api.send(bob, alice, "1.00")).json()
    assert statuses(await fresh(client, container, staff, query)) == {tx["id"]: "pending"}


async def test_balances_are_never_cached(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    for _ in range(2):
        with statements(container) as seen:
            one = await client.get(f"{WALLET}/{alice.wallet_id}", headers=alice.headers)
            many = await client.get(WALLET, headers=alice.headers)
        assert seen, "balances must be read from the database every time"
        assert one.headers.get("x-cache") != "hit"
        assert many.headers.get("x-cache") != "hit"
    await primed(client, container, alice)
    assert (await api.send(alice, bob, "4.00")).status_code == 201
    assert (await api.wallet(alice))["available_balance"] == "6.00"
    assert (await api.wallet(bob))["pending_incoming"] == "4.00"
    listed = await client.get(WALLET, headers=alice.headers)
    assert listed.json()["results"][0]["held_balance"] == "4.00"
