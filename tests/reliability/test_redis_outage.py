"""Redis going away mid-run (fault injection).

The app and a worker talk to a private ``redis-server`` through a TCP proxy; cutting the proxy
drops every connection and refuses new ones. Redis is a fast path and a queue, never the source of
truth (docs/api.md "Caching", "Idempotency", "Rate limits", "Notifications"), so while it is away:

- money still moves, and idempotency keys still hold (they live in Postgres);
- transaction lists are served uncached and correct;
- rate limiting fails open (requests pass, no 5xx);
- ``/health/ready`` answers 503 naming redis.

And when it comes back:

- lists are cached again and never stale: a change made during the outage is visible at once, even
  though the page cached before the outage is still in Redis under the same generation (the
  failed invalidation is paid by bumping the global epoch);
- notifications resume: a worker that lived through the outage delivers, once each, the emails of
  the events committed while Redis was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from mailbox import Mailbox, running

import httpx
import pytest
from faults import RedisServer, TcpProxy, private_redis
from redis.asyncio import Redis

from databases import create_database, drop_database
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import Settings, load_settings
from entrypoints.worker.run import worker_main
from environment import WEBHOOK_SECRET, app_environment
from support import Api, Person, idem
from wallet_core.services.context import Actor

TX = "/api/v1/wallet/transactions"


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    url = await create_database("wallet_redis_outage")
    yield url
    await drop_database(url)


@pytest.fixture(scope="module")
async def redis_server() -> AsyncIterator[RedisServer]:
    async with private_redis() as server:
        yield server


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with running(box) as port:
        yield box, port


@dataclass
class Stack:
    proxy: TcpProxy
    settings: Settings
    container: Container
    client: httpx.AsyncClient
    api: Api
    redis: Redis  # straight to the server, bypassing the proxy: what Redis really holds
    mailbox: Mailbox
    server: RedisServer


@pytest.fixture
async def stack(
    database_url: str, redis_server: RedisServer, mailbox: tuple[Mailbox, int]
) -> AsyncIterator[Stack]:
    box, smtp_port = mailbox
    proxy = TcpProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    env = app_environment(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
        EMAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        OUTBOX_POLL_SECONDS="0.1",
        TASK_RECLAIM_SECONDS="2",
        # Tight enough to prove the limiter is live before the outage (this module only).
        RATE_LIMIT_WEBHOOK="3/hour",
    )
    settings = load_settings(env, env_file=None)
    container = build(settings)
    app = create_app(settings, container, run_background_jobs=False)
    direct = Redis(host="127.0.0.1", port=redis_server.port)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
        ) as http:
            api = Api(http, container)
            yield Stack(proxy, settings, container, http, api, direct, box, redis_server)
    finally:
        await proxy.close()
        await container.close()
        await direct.aclose()


def paysend(phone: str, amount: str) -> bytes:
    return json.dumps(
        {
            "transactionId": f"ps-{uuid.uuid4().hex}",
            "status": "COMPLETED",
            "recipient": {"phone_number": phone, "amount": amount},
        }
    ).encode()


async def deposit(client: httpx.AsyncClient, phone: str, amount: str) -> httpx.Response:
    body = paysend(phone, amount)
    headers = {"Content-Type": "application/json", **sign(body, WEBHOOK_SECRET)}
    return await client.post("/api/v1/wallet/webhook/paysend", content=body, headers=headers)


async def listing(client: httpx.AsyncClient, who: Person) -> httpx.Response:
    response = await client.get(TX, headers=who.headers)
    assert response.status_code == 200, response.text
    return response


def status_in(listed: httpx.Response, transaction_id: str) -> str:
    (found,) = [t for t in listed.json()["results"] if t["id"] == transaction_id]
    status: str = found["status"]
    return status


async def money(api: Api, who: Person) -> tuple[str, str, str]:
    wallet = await api.wallet(who)
    return wallet["balance"], wallet["available_balance"], wallet["held_balance"]


async def wait_ready(client: httpx.AsyncClient, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (response := await client.get("/health/ready")).status_code != 200:
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)


async def test_money_moves_and_keys_hold_while_redis_is_down(stack: Stack) -> None:
    api, client = stack.api, stack.client
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    # The webhook limiter is live, in Redis: the 4th delivery in the window is refused.
    for _ in range(3):
        assert (await deposit(client, bob.phone_number, "1.00")).status_code == 200
    limited = await deposit(client, bob.phone_number, "1.00")
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "rate_limited"

    await stack.proxy.cut()
    try:
        seen: list[httpx.Response] = []
        ready = await client.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["redis"].startswith("unavailable")

        # Rate limiting fails open: the same source, over its limit, is let through.
        for _ in range(3):
            started = time.monotonic()
            response = await deposit(client, bob.phone_number, "1.00")
            assert time.monotonic() - started < 3, "a Redis outage must not stall requests"
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "processed"
            seen.append(response)

        # Money moves, and the idempotency key holds (it lives in Postgres).
        body = {"type": "transfer", "amount": "5.00", "recipient": bob.username}
        headers = {**alice.headers, **idem()}
        created = await client.post(TX, json=body, headers=headers)
        assert created.status_code == 201, created.text
        replay = await client.post(TX, json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == created.json()
        reused = await client.post(TX, json={**body, "amount": "6.00"}, headers=headers)
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        transaction_id = created.json()["id"]
        accept_headers = {**bob.headers, **idem()}
        action = f"{TX}/{transaction_id}/action"
        accepted = await client.post(action, json={"action": "accept"}, headers=accept_headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "completed"
        again = await client.post(action, json={"action": "accept"}, headers=accept_headers)
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        cancelled_pair = [await api.send(alice, bob, "1.00") for _ in range(2)]
        assert [r.status_code for r in cancelled_pair] == [201, 201]
        cancel = await api.act(alice, cancelled_pair[0].json()["id"], "cancel")
        assert cancel.status_code == 200, cancel.text
        seen += [created, replay, reused, accepted, again, *cancelled_pair, cancel]

        # Lists: served without the cache, and right.
        for who in (alice, bob):
            for _ in range(2):
                listed = await listing(client, who)
                assert listed.headers["x-cache"] == "miss"
                assert status_in(listed, transaction_id) == "completed"
                seen.append(listed)
        assert status_in(listed, cancelled_pair[0].json()["id"]) == "cancelled"

        # Balances (never cached anyway) agree with what was acknowledged.
        assert await money(api, alice) == ("45.00", "44.00", "1.00")
        assert await money(api, bob) == ("11.00", "11.00", "0.00")
        assert [r.status_code for r in seen if r.status_code >= 500] == []
    finally:
        await stack.proxy.restore()
    await wait_ready(client)
    # Back on Redis, the limiter counts again: this source is over its limit.
    assert (await deposit(client, bob.phone_number, "1.00")).status_code == 429
    report = await stack.container.core.audit.run()
    assert report.ok, report.problems


async def test_a_change_made_during_the_outage_is_visible_as_soon_as_redis_returns(
    stack: Stack,
) -> None:
    api, client, redis = stack.api, stack.client, stack.redis
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    sent = await api.send(alice, bob, "3.00")
    assert sent.status_code == 201
    transaction_id = sent.json()["id"]
    # Alice's page is cached, saying "pending".
    await listing(client, alice)
    cached = await listing(client, alice)
    assert cached.headers["x-cache"] == "hit"
    assert status_in(cached, transaction_id) == "pending"
    generation = await redis.get(f"txl:gen:{alice.id}")
    epoch = int(await redis.get("txl:epoch") or 0)

    await stack.proxy.cut()
    try:
        # Bob accepts while Redis is away: the invalidation of Alice's pages cannot happen.
        accepted = await api.act(bob, transaction_id, "accept")
        assert accepted.status_code == 200, accepted.text
        during = await listing(client, alice)
        assert during.headers["x-cache"] == "miss"
        assert status_in(during, transaction_id) == "completed"
    finally:
        await stack.proxy.restore()

    # The stale page is still in Redis, under the very generation Alice's key still has...
    assert await redis.get(f"txl:gen:{alice.id}") == generation, "the invalidation was lost"
    stale_keys = [
        key
        async for key in redis.scan_iter(match=f"txl:page:{alice.id}:{epoch}:*")
        if transaction_id.encode() in (await redis.get(key) or b"")
    ]
    assert stale_keys, "the page cached before the outage is still there"
    stale = json.loads(await redis.get(stale_keys[0]) or b"{}")
    assert status_in_body(stale, transaction_id) == "pending"

    # ...yet from the moment Redis is back, no list is stale, and caching resumes.
    deadline = time.monotonic() + 10
    hits = 0
    while hits < 2:
        assert time.monotonic() < deadline, "the cache never came back"
        listed = await listing(client, alice)
        assert status_in(listed, transaction_id) == "completed", listed.headers["x-cache"]
        hits = hits + 1 if listed.headers["x-cache"] == "hit" else 0
        await asyncio.sleep(0.1)
    assert int(await redis.get("txl:epoch") or 0) > epoch, "the owed epoch bump was paid"
    # And invalidation works again as usual.
    cancel_me = await api.send(alice, bob, "1.00")
    assert cancel_me.status_code == 201
    fresh = await listing(client, alice)
    assert fresh.headers["x-cache"] == "miss"
    assert status_in(fresh, cancel_me.json()["id"]) == "pending"


async def test_another_process_never_serves_a_page_made_stale_during_the_outage(
    stack: Stack,
) -> None:
    api, client = stack.api, stack.client
    other = build(stack.settings)  # a second process on the same database and Redis
    try:
        alice, bob = await api.person(), await api.person()
        await api.fund(alice, "20.00")
        sent = await api.send(alice, bob, "3.00")
        assert sent.status_code == 201
        transaction_id = sent.json()["id"]
        await listing(client, alice)
        assert (await listing(client, alice)).headers["x-cache"] == "hit"
        await stack.proxy.cut()
        try:
            bob_actor = Actor(uuid.UUID(bob.id))
            await other.core.transactions.act(bob_actor, uuid.UUID(transaction_id), "accept")
        finally:
            await stack.proxy.restore()
        # This process reconnects to Redis (its first call after the outage fails and starts
        # the cache's cooldown) and serves cached pages again...
        carol = await api.person()
        deadline = time.monotonic() + 10
        while (await listing(client, carol)).headers["x-cache"] != "hit":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        # ...while the process that owes the epoch bump has had no list to serve.
        listed = await listing(client, alice)
        assert status_in(listed, transaction_id) == "completed", listed.headers["x-cache"]
    finally:
        await other.close()


def status_in_body(page: dict[str, object], transaction_id: str) -> str:
    results = page["results"]
    assert isinstance(results, list)
    (found,) = [t for t in results if t["id"] == transaction_id]
    return str(found["status"])


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker_main(settings, concurrency=4, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def test_notifications_of_the_outage_arrive_once_redis_returns(stack: Stack) -> None:
    api, box = stack.api, stack.mailbox
    alice, bob = await api.person(), await api.person()
    addresses = {alice.email, bob.email}
    async with worker(stack.settings) as running_worker:
        await api.fund(alice, "30.00")
        await box.wait_for(1, {alice.email})  # the worker delivers before the outage

        await stack.proxy.cut()
        try:
            sent = await api.send(alice, bob, "2.00", description="during the outage")
            assert sent.status_code == 201, sent.text
            accepted = await api.act(bob, sent.json()["id"], "accept")
            assert accepted.status_code == 200, accepted.text
            cashout = await api.client.post(
                TX,
                json={"type": "withdrawal", "amount": "4.00"},
                headers={**alice.headers, **idem()},
            )
            assert cashout.status_code == 201, cashout.text
            await asyncio.sleep(1.0)  # the worker keeps trying while Redis is away
            assert len([m for m in box.messages if m["To"] in addresses]) == 1
            assert not running_worker.done(), "the worker must outlive a Redis outage"
        finally:
            await stack.proxy.restore()

        await box.wait_for(5, addresses, timeout=30)
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        assert not running_worker.done()
    assert box.subjects(alice.email) == sorted(
        [
            "Deposit received: 30.00 USD",
            f"You sent 2.00 USD to {bob.username}",
            f"{bob.username} accepted your transfer of 2.00 USD",
            "Your cash-out code for 4.00 USD",
        ]
    )
    assert box.subjects(bob.email) == [f"{alice.username} sent you 2.00 USD"]


async def test_a_worker_outlives_a_redis_crash_that_loses_the_queue(stack: Stack) -> None:
    """Harsher: Redis dies and comes back empty (no persistence), so the task stream and its
    consumer group are gone. The worker re-declares them and listens again, and the outbox hands
    over the events committed meanwhile: every email arrives, once."""
    api, box = stack.api, stack.mailbox
    alice, bob = await api.person(), await api.person()
    addresses = {alice.email, bob.email}
    async with worker(stack.settings) as running_worker:
        await api.fund(alice, "10.00")
        await box.wait_for(1, {alice.email})
        stack.server.kill()
        try:
            sent = await api.send(alice, bob, "1.50")
            assert sent.status_code == 201, sent.text
            await asyncio.sleep(0.5)
        finally:
            await stack.server.start()
        await box.wait_for(3, addresses, timeout=30)
        await asyncio.sleep(0.5)
        assert not running_worker.done()
    assert box.subjects(alice.email) == sorted(
        ["Deposit received: 10.00 USD", f"You sent 1.50 USD to {bob.username}"]
    )
    assert box.subjects(bob.email) == [f"{alice.username} sent you 1.50 USD"]
