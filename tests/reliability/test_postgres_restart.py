"""PostgreSQL going away mid-run (fault injection).

The app talks to its own database through a TCP proxy in front of the shared server; cutting the
proxy drops every connection and refuses new ones, as a database restart or failover does. What
must hold (docs/api.md "Errors", docs/ledger-model.md):

- a request caught by the outage fails cleanly: 503 ``service_unavailable`` with ``Retry-After``,
  a problem document without a stack trace or SQL, never a 500 and never a hang;
- the pool recovers by itself: requests after the restore succeed without restarting the app,
  including the very first one after an outage that nobody noticed (an idle pool of dead
  connections);
- nothing is half-applied: the audit is clean, every request that got a 503 either left no trace
  or completed whole (a transfer with its hold, a deposit credited once), and every balance equals
  what the successful responses imply.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from faults import TcpProxy
from sqlalchemy.engine import make_url

from databases import create_database, drop_database
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import load_settings
from environment import WEBHOOK_SECRET, app_environment
from support import Api, Person, idem
from wallet_core.local import MemoryNotifier

OUTAGE_SECONDS = 2.0
BACKOFF_SECONDS = 0.2
LEAKS = ("traceback", "asyncpg", "sqlalchemy", "psycopg", "select ", "insert ", "update ")


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    """This module's own database, so cutting it off disturbs no other test."""
    url = await create_database("wallet_pg_outage")
    yield url
    await drop_database(url)


@dataclass
class Stack:
    proxy: TcpProxy
    container: Container
    client: httpx.AsyncClient
    api: Api
    database_url: str


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    server = make_url(database_url)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432, latency=0.002)
    await proxy.start()
    proxied = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # No REDIS_URL: cache and rate limits in process, so only the database can fail here.
    settings = load_settings(app_environment(DATABASE_URL=proxied, DB_POOL_SIZE="5"), env_file=None)
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        ) as http:
            yield Stack(proxy, container, http, Api(http, container), database_url)
    finally:
        await proxy.close()
        await container.close()


def assert_clean_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "service_unavailable", problem
    assert problem["status"] == 503
    assert int(response.headers["retry-after"]) >= 1
    lowered = response.text.lower()
    assert not any(leak in lowered for leak in LEAKS), response.text


@dataclass
class Call:
    kind: str
    started: float
    ended: float
    response: httpx.Response
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Journal:
    calls: list[Call] = field(default_factory=list)

    async def record(
        self, kind: str, send: Callable[[], Awaitable[httpx.Response]], **info: Any
    ) -> Call:
        started = time.monotonic()
        response = await asyncio.wait_for(send(), timeout=20)  # a hang is a failure too
        call = Call(kind, started, time.monotonic(), response, info)
        self.calls.append(call)
        if response.status_code == 503:
            await asyncio.sleep(BACKOFF_SECONDS)  # what Retry-After asks, scaled down
        return call


def paysend_body(phone: str, amount: str, provider_id: str) -> bytes:
    body = {
        "transactionId": provider_id,
        "status": "COMPLETED",
        "recipient": {"phone_number": phone, "amount": amount},
    }
    return json.dumps(body).encode()


async def deposit(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json", **sign(body, WEBHOOK_SECRET)}
    headers.pop("X-Signature")
    return await client.post("/api/v1/wallet/webhook/paysend", content=body, headers=headers)


def cents(text: str) -> int:
    units, _, fraction = text.partition(".")
    return int(units) * 100 + int(fraction.ljust(2, "0"))


async def test_an_outage_mid_traffic_is_a_clean_503_and_nothing_is_half_applied(
    stack: Stack,
) -> None:
    api, client = stack.api, stack.client
    senders = [await api.person() for _ in range(4)]
    recipients = [await api.person() for _ in range(4)]
    for sender in senders:
        await api.fund(sender, "100.00")
    # Pending transfers for the recipients to accept while the database goes away.
    to_accept: dict[str, list[str]] = {r.id: [] for r in recipients}
    for sender, recipient in zip(senders, recipients, strict=True):
        for _ in range(8):
            response = await api.send(sender, recipient, "1.00", description="to-accept")
            assert response.status_code == 201, response.text
            to_accept[recipient.id].append(response.json()["id"])

    journal = Journal()
    stop = asyncio.Event()
    run = uuid.uuid4().hex[:8]

    async def sending(sender: Person, recipient: Person) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tag = f"pgr-{run}-{sender.username}-{n}"
            amount = f"0.{random.randint(1, 40):02d}"
            body = {
                "type": "transfer",
                "amount": amount,
                "recipient": recipient.username,
                "description": tag,
            }
            headers = {**sender.headers, **idem()}
            await journal.record(
                "transfer",
                lambda b=body, h=headers: client.post(
                    "/api/v1/wallet/transactions", json=b, headers=h
                ),
                body=body,
                headers=headers,
                sender=sender,
                recipient=recipient,
                tag=tag,
            )

    async def accepting(recipient: Person) -> None:
        for transaction_id in to_accept[recipient.id]:
            if stop.is_set():
                return
            headers = {**recipient.headers, **idem()}
            await journal.record(
                "accept",
                lambda t=transaction_id, h=headers: client.post(
                    f"/api/v1/wallet/transactions/{t}/action",
                    json={"action": "accept"},
                    headers=h,
                ),
                transaction_id=transaction_id,
                headers=headers,
            )
            await asyncio.sleep(0.3)

    async def depositing(recipient: Person) -> None:
        while not stop.is_set():
            body = paysend_body(recipient.phone_number, "0.10", f"ps-{uuid.uuid4().hex}")
            await journal.record(
                "deposit", lambda b=body: deposit(client, b), body=body, recipient=recipient
            )

    async def reading(person: Person) -> None:
        while not stop.is_set():
            await journal.record(
                "read",
                lambda: client.get(f"/api/v1/wallet/{person.wallet_id}", headers=person.headers),
            )
            await asyncio.sleep(0.02)

    loops = [
        *(asyncio.create_task(sending(s, r)) for s, r in zip(senders, recipients, strict=True)),
        *(asyncio.create_task(accepting(r)) for r in recipients),
        *(asyncio.create_task(depositing(r)) for r in recipients[:2]),
        asyncio.create_task(reading(senders[0])),
    ]
    try:
        await asyncio.sleep(0.8)
        cut_at = time.monotonic()
        await stack.proxy.cut()
        await asyncio.sleep(OUTAGE_SECONDS / 2)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"].startswith("unavailable")
        await asyncio.sleep(OUTAGE_SECONDS / 2)
        restored_at = time.monotonic()
        await stack.proxy.restore()
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*loops)

    # Every response is a success or a clean 503; nothing else, ever.
    statuses = sorted({c.response.status_code for c in journal.calls})
    assert set(statuses) <= {200, 201, 503}, [
        (c.kind, c.response.status_code, c.response.text)
        for c in journal.calls
        if c.response.status_code not in (200, 201, 503)
    ]
    failed = [c for c in journal.calls if c.response.status_code == 503]
    for call in failed:
        assert_clean_503(call.response)
    in_flight = [c for c in failed if c.started < cut_at < c.ended]
    assert in_flight, "some requests were on the wire when the database went away"
    assert {c.kind for c in failed} >= {"transfer", "deposit", "read"}
    # The pool recovers by itself: everything sent after the restore succeeded.
    after = [c for c in journal.calls if c.started >= restored_at]
    assert len(after) >= 10
    assert [c.response.status_code for c in after if c.response.status_code >= 300] == []
    assert (await client.get("/health/ready")).status_code == 200

    # Clients retry what failed, with the same key / provider id, as Retry-After invites.
    async def retry(call: Call) -> None:
        if call.kind == "transfer":
            again = await client.post(
                "/api/v1/wallet/transactions", json=call.info["body"], headers=call.info["headers"]
            )
            # The first attempt's claim may still be held (it could not be released while the
            # database was away): 409 in progress, the client tries again later.
            assert again.status_code in (201, 409), again.text
            if again.status_code == 409:
                assert again.json()["code"] == "idempotency_key_in_progress"
            call.info["retry"] = again
        elif call.kind == "deposit":
            again = await deposit(client, call.info["body"])
            assert again.status_code == 200, again.text
            call.info["retry"] = again

    await asyncio.gather(*(retry(call) for call in failed))

    # What the database holds, read directly (not through the proxy).
    conn = await asyncpg.connect(
        make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        rows = await conn.fetch(
            "SELECT id, status, amount, description, provider_id FROM transactions "
            "WHERE description LIKE $1 OR description = 'to-accept' OR provider_id LIKE 'ps-%'",
            f"pgr-{run}-%",
        )
    finally:
        await conn.close()
    by_tag: dict[str, list[Any]] = {}
    by_provider: dict[str, list[Any]] = {}
    by_id = {str(r["id"]): r for r in rows}
    for row in rows:
        if row["description"].startswith("pgr-"):
            by_tag.setdefault(row["description"], []).append(row)
        if row["provider_id"]:
            by_provider.setdefault(row["provider_id"], []).append(row)
    assert all(len(v) == 1 for v in by_tag.values()), "a transfer request applied twice"
    assert all(len(v) == 1 for v in by_provider.values()), "a deposit credited twice"

    # The model: what the responses imply, with the database deciding only what a 503 left open.
    balance = {p.id: 0 for p in senders + recipients}
    held = dict.fromkeys(balance, 0)
    for sender in senders:
        balance[sender.id] += 100_00
    owner = {p.id: p for p in senders + recipients}
    pair = {r.id: s for s, r in zip(senders, recipients, strict=True)}
    for call in journal.calls:
        status = call.response.status_code
        if call.kind == "transfer":
            rows_for = by_tag.get(call.info["tag"], [])
            if status == 201:
                assert len(rows_for) == 1
                assert rows_for[0]["status"] == "pending"
                assert str(rows_for[0]["id"]) == call.response.json()["id"]
            else:
                retry = call.info["retry"]
                if retry.status_code == 201:
                    assert len(rows_for) == 1
                    assert str(rows_for[0]["id"]) == retry.json()["id"]
                assert [r["status"] for r in rows_for] in ([], ["pending"])
            if rows_for:
                held[call.info["sender"].id] += rows_for[0]["amount"]
        elif call.kind == "deposit":
            provider_id = json.loads(call.info["body"])["transactionId"]
            response = call.response if status == 200 else call.info["retry"]
            assert response.json()["status"] == "processed"
            (row,) = by_provider[provider_id]
            assert str(row["id"]) == response.json()["transaction_id"]
            assert row["status"] == "completed"
            balance[call.info["recipient"].id] += 10
    accepted_ids = set()
    for call in journal.calls:
        if call.kind == "accept" and call.response.status_code == 200:
            assert call.response.json()["status"] == "completed"
            accepted_ids.add(call.info["transaction_id"])
    for recipient_id, ids in to_accept.items():
        sender = pair[recipient_id]
        for transaction_id in ids:
            state = by_id[transaction_id]["status"]
            if transaction_id in accepted_ids:
                assert state == "completed"
            assert state in ("pending", "completed")  # a 503 left it whole, one way or the other
            if state == "completed":
                balance[sender.id] -= 100
                balance[recipient_id] += 100
            else:
                held[sender.id] += 100
    for person_id, person in owner.items():
        wallet = await api.wallet(person)
        assert cents(wallet["balance"]) == balance[person_id], (person.username, wallet)
        assert cents(wallet["held_balance"]) == held[person_id], (person.username, wallet)
        assert cents(wallet["available_balance"]) == balance[person_id] - held[person_id]
    report = await stack.container.core.audit.run()
    assert report.ok, report.problems


async def test_the_first_requests_after_an_unnoticed_restart_succeed(stack: Stack) -> None:
    """The outage happens while the app is idle: every pooled connection is dead when traffic
    comes back, and the first requests must not pay for it (no 503, no 500, no hang)."""
    api = stack.api
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    # Fill the pool with connections, all of which the outage will kill.
    reads = await asyncio.gather(*(api.client.get("/health/ready") for _ in range(5)))
    assert all(r.status_code == 200 for r in reads)

    await stack.proxy.cut()
    await asyncio.sleep(0.5)
    await stack.proxy.restore()

    first = await asyncio.wait_for(
        api.client.get(f"/api/v1/wallet/{alice.wallet_id}", headers=alice.headers), 10
    )
    assert first.status_code == 200, first.text
    burst = await asyncio.wait_for(
        asyncio.gather(*(api.send(alice, bob, "0.50") for _ in range(6))), 20
    )
    assert [r.status_code for r in burst] == [201] * 6, [r.text for r in burst]
    wallet = await api.wallet(alice)
    assert (wallet["balance"], wallet["held_balance"]) == ("10.00", "3.00")
    report = await stack.container.core.audit.run()
    assert report.ok, report.problems


async def test_an_outage_longer_than_the_request_is_a_503_not_a_wait(stack: Stack) -> None:
    """While the database is down, requests fail fast with 503 (no pile-up), and the idempotency
    key of a failed request can be used again once the database is back."""
    api = stack.api
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    await stack.proxy.cut()
    try:
        headers = {**alice.headers, **idem()}
        body = {"type": "transfer", "amount": "1.00", "recipient": bob.username}
        started = time.monotonic()
        down = await api.client.post("/api/v1/wallet/transactions", json=body, headers=headers)
        assert time.monotonic() - started < 5
        assert_clean_503(down)
        login = await api.client.post(
            "/api/v1/auth/token", json={"email": alice.email, "password": "x" * 12}
        )
        assert_clean_503(login)
    finally:
        await stack.proxy.restore()
    again = await api.client.post("/api/v1/wallet/transactions", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") is None
    wallet = await api.wallet(alice)
    assert (wallet["balance"], wallet["held_balance"]) == ("10.00", "1.00")
