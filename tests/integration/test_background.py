"""Background work on real PostgreSQL, Redis and SMTP: the outbox relay and taskiq worker deliver
every email exactly once in the normal path and lose none when SMTP or a worker dies; the expiry
job expires each transfer once; the scheduler fires it, with exactly one scheduler leading."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from mailbox import Mailbox, running, text_of
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from entrypoints.bootstrap import Container, build
from entrypoints.settings import Settings
from entrypoints.worker.run import LEADER_KEY, scheduler_main, worker_main
from servers import free_port
from support import PASSWORD, new_name, new_phone
from wallet_core.ledger import TransactionStatus
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

FAST = {"OUTBOX_POLL_SECONDS": "0.1", "TASK_RECLAIM_SECONDS": "2"}


@contextlib.asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker_main(settings, stop=stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


@pytest.fixture(autouse=True)
async def quiet_outbox(container: Container) -> None:
    """Events other tests left unsent would go to this test's mailbox (the database is shared):
    mark them sent, so each test sees only what it caused."""
    async with container.storage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE outbox_events SET sent_at = now(), dispatched_at = now() "
                "WHERE sent_at IS NULL"
            )
        )


@pytest.fixture
async def open_containers() -> AsyncIterator[list[Container]]:
    containers: list[Container] = []
    yield containers
    for container in containers:
        await container.close()


async def register(container: Container, *, staff: bool = False) -> tuple[Actor, Any, Any]:
    name = new_name()
    user, wallet = await container.core.auth.register(
        Registration(f"{name}@example.com", name, PASSWORD, new_phone(), is_staff=staff)
    )
    return Actor(user.id, staff), user, wallet


async def test_a_transfer_lifecycle_sends_the_expected_emails(
    make_settings: Callable[..., Settings], open_containers: list[Container]
) -> None:
    mailbox = Mailbox()
    with running(mailbox) as port:
        settings = make_settings(EMAIL_BACKEND="smtp", SMTP_PORT=str(port), **FAST)
        container = build(settings)
        open_containers.append(container)
        core = container.core
        admin, _, _ = await register(container, staff=True)
        alice, alice_user, alice_wallet = await register(container)
        bob, bob_user, _ = await register(container)
        async with worker(settings):
            await core.deposits.manual(admin, amount="50.00", wallet_id=alice_wallet.id)
            transaction = await core.transfers.create_transfer(
                alice, amount="12.34", recipient=bob_user.username, description="dinner"
            )
            await core.transactions.act(bob, transaction.id, "accept")
            cashout = await core.cashouts.request(alice, amount="5.00")
            await mailbox.wait_for(5, {alice_user.email, bob_user.email})
            await asyncio.sleep(0.5)  # anything extra would arrive now
    assert mailbox.subjects(alice_user.email) == sorted(
        [
            "Deposit received: 50.00 USD",
            f"You sent 12.34 USD to {bob_user.username}",
            f"{bob_user.username} accepted your transfer of 12.34 USD",
            "Your cash-out code for 5.00 USD",
        ]
    )
    assert mailbox.subjects(bob_user.email) == [f"{alice_user.username} sent you 12.34 USD"]
    received = text_of(mailbox.to(bob_user.email)[0])
    assert transaction.reference in received
    assert "dinner" in received
    code_mail = next(m for m in mailbox.to(alice_user.email) if "cash-out" in str(m["Subject"]))
    assert cashout.withdrawal_code in text_of(code_mail)
    for message in mailbox.messages:
        body = text_of(message).lower()
        assert "bearer" not in body
        assert "access_token" not in body
        assert "refresh_token" not in body
    async with container.storage.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM outbox_events WHERE payload::text LIKE :code"),
            {"code": f"%{cashout.withdrawal_code}%"},
        )
    assert stored == 0, "the code must be scrubbed from the outbox once sent"


async def test_smtp_down_then_up_every_email_arrives_once(
    make_settings: Callable[..., Settings], open_containers: list[Container]
) -> None:
    port = free_port()
    settings = make_settings(EMAIL_BACKEND="smtp", SMTP_PORT=str(port), **FAST)
    container = build(settings)
    open_containers.append(container)
    admin, _, _ = await register(container, staff=True)
    people = [await register(container) for _ in range(3)]
    addresses = {user.email for _, user, _ in people}
    mailbox = Mailbox()
    async with worker(settings):
        for _, _, wallet in people:
            await container.core.deposits.manual(admin, amount="1.00", wallet_id=wallet.id)
        await asyncio.sleep(1.5)  # deliveries fail and back off while nothing listens
        async with container.storage.engine.connect() as conn:
            attempts = await conn.scalar(
                text(
                    "SELECT min(attempts) FROM outbox_events o JOIN users u ON u.id = o.user_id "
                    "WHERE u.email = ANY(:emails)"
                ),
                {"emails": sorted(addresses)},
            )
        assert attempts is not None
        assert attempts >= 1
        with running(mailbox, port):
            await mailbox.wait_for(3, addresses, timeout=30)
            await asyncio.sleep(1.0)
    for address in addresses:
        assert mailbox.subjects(address) == ["Deposit received: 1.00 USD"]


async def test_a_worker_killed_mid_batch_loses_nothing(
    make_settings: Callable[..., Settings],
    open_containers: list[Container],
    database_url: str,
    redis_url: str,
) -> None:
    mailbox = Mailbox()
    with running(mailbox) as port:
        settings = make_settings(EMAIL_BACKEND="smtp", SMTP_PORT=str(port), **FAST)
        container = build(settings)
        open_containers.append(container)
        admin, _, _ = await register(container, staff=True)
        people = [await register(container) for _ in range(30)]
        addresses = {user.email for _, user, _ in people}
        env = {
            **os.environ,
            **{k: v for k, v in _environment(settings).items()},
        }

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", "worker", "--concurrency", "4"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        first = start()
        try:
            for _, _, wallet in people:
                await container.core.deposits.manual(admin, amount="2.00", wallet_id=wallet.id)
            await mailbox.wait_for(3, addresses, timeout=30)
            first.send_signal(signal.SIGKILL)  # mid-batch: some sent, some taken, some waiting
            first.wait(timeout=10)
            killed_after = sum(1 for m in mailbox.messages if m["To"] in addresses)
            assert killed_after < len(addresses)
            second = start()
            try:
                await mailbox.wait_for(len(addresses), addresses, timeout=60)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=20)
        finally:
            if first.poll() is None:
                first.kill()
    delivered = {m["To"] for m in mailbox.messages if m["To"] in addresses}
    assert delivered == addresses


def _environment(settings: Settings) -> dict[str, str]:
    from environment import app_environment

    return app_environment(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        EMAIL_BACKEND="smtp",
        SMTP_HOST=settings.smtp_host,
        SMTP_PORT=str(settings.smtp_port),
        OUTBOX_POLL_SECONDS="0.1",
        TASK_RECLAIM_SECONDS="2",
    )


async def test_two_expiry_processes_and_an_accept_expire_each_transfer_once(
    make_settings: Callable[..., Settings], open_containers: list[Container]
) -> None:
    settings = make_settings(TRANSFER_EXPIRY_SECONDS="1")
    container = build(settings)
    open_containers.append(container)
    core = container.core
    admin, _, _ = await register(container, staff=True)
    sender, _, wallet = await register(container)
    receiver, receiver_user, receiver_wallet = await register(container)
    await core.deposits.manual(admin, amount="30.00", wallet_id=wallet.id)
    transactions = [
        await core.transfers.create_transfer(
            sender, amount="1.00", recipient=str(receiver_wallet.id)
        )
        for _ in range(10)
    ]
    await asyncio.sleep(1.2)
    env = {**os.environ, **_environment(settings)}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "entrypoints.cli",
            "expire",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(2)
    ]

    async def late_accept() -> str:
        try:
            await core.transactions.act(receiver, transactions[0].id, "accept")
        except Exception as exc:
            return getattr(exc, "code", type(exc).__name__)
        return "completed"

    accept_outcome, *outputs = await asyncio.gather(
        late_accept(), *(p.communicate() for p in processes)
    )
    assert all(p.returncode == 0 for p in processes)
    assert accept_outcome in ("expired", "not_pending")
    async with container.storage.engine.connect() as conn:
        for transaction in transactions:
            status = await conn.scalar(
                text("SELECT status FROM transactions WHERE id = :id"), {"id": transaction.id}
            )
            entries = await conn.scalar(
                text("SELECT count(*) FROM entries WHERE transaction_id = :id"),
                {"id": transaction.id},
            )
            assert status == TransactionStatus.EXPIRED.value
            assert entries == 4, "a hold placed once and released once"
    current = await core.wallets.get(sender, wallet.id)
    assert (current.balance, current.available, current.held) == (3_000, 3_000, 0)
    assert (await core.audit.run()).ok
    assert receiver_user is not None
    assert all(b"expired" in out for out, _ in outputs)


async def test_the_scheduler_fires_the_expiry_job_and_only_one_leads(
    make_settings: Callable[..., Settings], open_containers: list[Container], redis_url: str
) -> None:
    settings = make_settings(TRANSFER_EXPIRY_SECONDS="1", EXPIRY_INTERVAL_SECONDS="1", **FAST)
    container = build(settings)
    open_containers.append(container)
    core = container.core
    admin, _, _ = await register(container, staff=True)
    sender, _, wallet = await register(container)
    _, _, receiver_wallet = await register(container)
    await core.deposits.manual(admin, amount="5.00", wallet_id=wallet.id)
    transaction = await core.transfers.create_transfer(
        sender, amount="2.00", recipient=str(receiver_wallet.id)
    )
    redis = Redis.from_url(redis_url)
    await redis.delete(LEADER_KEY)
    stops = [asyncio.Event(), asyncio.Event()]
    schedulers = [
        asyncio.create_task(scheduler_main(settings, stop=stop, lease_seconds=3)) for stop in stops
    ]
    try:
        async with worker(settings):
            for _ in range(100):
                current = await core.transactions.get(sender, transaction.id)
                if current.status is TransactionStatus.EXPIRED:
                    break
                await asyncio.sleep(0.1)
            assert current.status is TransactionStatus.EXPIRED
            leader = await redis.get(LEADER_KEY)
            assert leader is not None
            await asyncio.sleep(1.5)
            assert await redis.get(LEADER_KEY) == leader, "the lease stays with one scheduler"
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*schedulers), timeout=20)
        await redis.aclose()
    assert (await core.audit.run()).ok
