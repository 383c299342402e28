"""Concurrency on a real PostgreSQL: parallel units of work on separate connections must never
overdraw, lose an update, deadlock into an error, or change a transfer's state twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import text

from entrypoints.bootstrap import Container, build
from entrypoints.settings import Settings
from support import PASSWORD, new_name, new_phone
from wallet_core.errors import DomainError, Expired, InsufficientFunds, NotPending
from wallet_core.ledger import Account, FundingSource, TransactionStatus
from wallet_core.local import MemoryNotifier
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.services.deposits import ProviderDeposit
from wallet_core.testing.fakes import ManualClock


@pytest.fixture
async def clocked(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[[datetime], Container]]:
    """Extra containers on the same database, each with a clock of its own."""
    built: list[Container] = []

    def make(start: datetime) -> Container:
        container = build(
            make_settings(DB_POOL_SIZE="20", DB_MAX_OVERFLOW="30"),
            clock=ManualClock(start),
            notifier=MemoryNotifier(),
        )
        built.append(container)
        return container

    yield make
    for container in built:
        await container.close()


@pytest.fixture
async def wide(make_settings: Callable[..., Settings]) -> AsyncIterator[Container]:
    """A container with a pool wide enough for hundreds of concurrent units of work."""
    container = build(
        make_settings(DB_POOL_SIZE="20", DB_MAX_OVERFLOW="30"), notifier=MemoryNotifier()
    )
    yield container
    await container.close()


async def person(container: Container, currency: str = "USD") -> tuple[Actor, Account]:
    name = new_name()
    user, wallet = await container.core.auth.register(
        Registration(f"{name}@example.com", name, PASSWORD, new_phone(), currency=currency)
    )
    return Actor(user.id), wallet


async def staff(container: Container) -> Actor:
    name = new_name("staff")
    user, _ = await container.core.auth.register(
        Registration(f"{name}@example.com", name, PASSWORD, new_phone(), is_staff=True)
    )
    return Actor(user.id, is_staff=True)


async def balances(container: Container, actor: Actor, wallet: Account) -> tuple[int, int, int]:
    current = await container.core.wallets.get(actor, wallet.id)
    return current.balance, current.available, current.held


async def assert_audit_clean(container: Container) -> None:
    report = await container.core.audit.run()
    assert report.ok, report.problems


async def test_fifty_transfers_of_the_whole_balance_one_succeeds(wide: Container) -> None:
    core = wide.core
    admin = await staff(wide)
    sender, wallet = await person(wide)
    receivers = [await person(wide) for _ in range(5)]
    await core.deposits.manual(admin, amount="100.00", wallet_id=wallet.id)

    async def attempt(i: int) -> str:
        target = receivers[i % len(receivers)][1]
        try:
            await core.transfers.create_transfer(sender, amount="100.00", recipient=str(target.id))
        except InsufficientFunds:
            return "insufficient_funds"
        return "created"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count("created") == 1
    assert outcomes.count("insufficient_funds") == 49
    assert await balances(wide, sender, wallet) == (10_000, 0, 10_000)
    await assert_audit_clean(wide)


async def test_hot_wallet_in_and_out_matches_the_serial_expectation(wide: Container) -> None:
    """200 transfers out of and 200 into one wallet, accepted or rejected by other tasks while
    new ones keep arriving: the end state equals the one serial execution would give."""
    core = wide.core
    admin = await staff(wide)
    hot, hot_wallet = await person(wide)
    peers = [await person(wide) for _ in range(8)]
    await core.deposits.manual(admin, amount="1000.00", wallet_id=hot_wallet.id)
    for _, wallet in peers:
        await core.deposits.manual(admin, amount="100.00", wallet_id=wallet.id)
    rng = random.Random(7)
    outgoing = [(peers[i % 8], rng.randint(1, 300)) for i in range(200)]
    incoming = [(peers[i % 8], rng.randint(1, 300)) for i in range(200)]
    decisions = {i: rng.random() < 0.7 for i in range(400)}  # True: accept
    queue: asyncio.Queue[tuple[int, UUID, Actor]] = asyncio.Queue()
    failures: list[BaseException] = []

    async def send_out(i: int) -> None:
        (peer, peer_wallet), cents = outgoing[i]
        transaction = await core.transfers.create_transfer(
            hot, amount=f"{cents / 100:.2f}", recipient=str(peer_wallet.id)
        )
        await queue.put((i, transaction.id, peer))

    async def send_in(i: int) -> None:
        (peer, _), cents = incoming[i]
        transaction = await core.transfers.create_transfer(
            peer, amount=f"{cents / 100:.2f}", recipient=str(hot_wallet.id)
        )
        await queue.put((200 + i, transaction.id, hot))

    async def decide() -> None:
        while True:
            i, transaction_id, recipient = await queue.get()
            try:
                action = "accept" if decisions[i] else "reject"
                await core.transactions.act(recipient, transaction_id, action)
            except BaseException as exc:
                failures.append(exc)
            finally:
                queue.task_done()

    deciders = [asyncio.create_task(decide()) for _ in range(6)]
    senders = [send_out(i) for i in range(200)] + [send_in(i) for i in range(200)]
    random.Random(3).shuffle(senders)
    results = await asyncio.gather(*senders, return_exceptions=True)
    await queue.join()
    for task in deciders:
        task.cancel()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert failures == []

    out_total = sum(c for i, (_, c) in enumerate(outgoing) if decisions[i])
    in_total = sum(c for i, (_, c) in enumerate(incoming) if decisions[200 + i])
    expected = 100_000 - out_total + in_total
    assert await balances(wide, hot, hot_wallet) == (expected, expected, 0)
    for index, (actor, wallet) in enumerate(peers):
        got = sum(c for i, ((p, _), c) in enumerate(outgoing) if decisions[i] and p == actor)
        gave = sum(c for i, ((p, _), c) in enumerate(incoming) if decisions[200 + i] and p == actor)
        assert (await balances(wide, actor, wallet))[0] == 10_000 + got - gave, index
    await assert_audit_clean(wide)


async def test_reject_racing_accept_exactly_one_wins(wide: Container) -> None:
    core = wide.core
    admin = await staff(wide)
    sender, wallet = await person(wide)
    receiver, receiver_wallet = await person(wide)
    await core.deposits.manual(admin, amount="50.00", wallet_id=wallet.id)
    transactions = [
        await core.transfers.create_transfer(
            sender, amount="1.00", recipient=str(receiver_wallet.id)
        )
        for _ in range(20)
    ]

    async def act(transaction_id: UUID, action: str) -> str:
        try:
            done = await core.transactions.act(receiver, transaction_id, action)
        except NotPending:
            return "not_pending"
        return done.status.value

    for transaction in transactions:
        outcomes = await asyncio.gather(
            act(transaction.id, "accept"), act(transaction.id, "reject")
        )
        assert sorted(outcomes) in (["completed", "not_pending"], ["not_pending", "rejected"])
    await assert_audit_clean(wide)


async def test_accept_racing_the_expiry_job_exactly_one_wins(
    wide: Container, clocked: Callable[[datetime], Container]
) -> None:
    """The recipient's clock is before the deadline, the expiry job's after it: whoever locks
    the row first decides; the other sees ``not_pending`` (or skips the row)."""
    start = datetime.now(UTC)
    maker = clocked(start)
    admin = await staff(maker)
    sender, wallet = await person(maker)
    receiver, receiver_wallet = await person(maker)
    await maker.core.deposits.manual(admin, amount="50.00", wallet_id=wallet.id)
    transactions = [
        await maker.core.transfers.create_transfer(
            sender, amount="1.00", recipient=str(receiver_wallet.id)
        )
        for _ in range(15)
    ]
    late = clocked(start + timedelta(days=2))
    accepted: list[UUID] = []

    async def accept(transaction_id: UUID) -> None:
        try:
            await maker.core.transactions.act(receiver, transaction_id, "accept")
            accepted.append(transaction_id)
        except NotPending:
            pass

    jobs = [late.core.expiry.expire_due() for _ in range(3)]
    await asyncio.gather(*(accept(t.id) for t in transactions), *jobs)
    finals = {
        t.id: (await maker.core.transactions.get(receiver, t.id)).status for t in transactions
    }
    completed = {i for i, status in finals.items() if status is TransactionStatus.COMPLETED}
    expired = {i for i, status in finals.items() if status is TransactionStatus.EXPIRED}
    assert completed | expired == set(finals)
    assert completed == set(accepted)
    held = 1_500 - 100 * len(completed) - 100 * len(expired)
    assert await balances(maker, sender, wallet) == (
        5_000 - 100 * len(completed),
        5_000 - 100 * len(completed),
        held,
    )
    await assert_audit_clean(maker)


async def test_a_late_accept_expires_the_transfer_itself_once(
    clocked: Callable[[datetime], Container],
) -> None:
    start = datetime.now(UTC)
    early = clocked(start)
    admin = await staff(early)
    sender, wallet = await person(early)
    receiver, receiver_wallet = await person(early)
    await early.core.deposits.manual(admin, amount="10.00", wallet_id=wallet.id)
    transaction = await early.core.transfers.create_transfer(
        sender, amount="4.00", recipient=str(receiver_wallet.id)
    )
    late = clocked(start + timedelta(days=2))
    outcomes: list[str] = []

    async def accept() -> None:
        try:
            await late.core.transactions.act(receiver, transaction.id, "accept")
        except (Expired, NotPending) as exc:
            outcomes.append(exc.code)

    async def expire() -> None:
        outcomes.append(f"job:{await late.core.expiry.expire_due()}")

    await asyncio.gather(accept(), expire(), accept())
    assert outcomes.count("expired") + outcomes.count("job:1") == 1
    assert await balances(early, sender, wallet) == (1_000, 1_000, 0)
    await assert_audit_clean(early)


async def test_one_provider_id_twenty_times_concurrently_credits_once(wide: Container) -> None:
    core = wide.core
    actor, wallet = await person(wide)
    user = await core.auth.me(actor)
    provider_id = new_name("ps")
    deposit = ProviderDeposit(provider_id, "COMPLETED", user.phone_number, "12.34")
    outcomes = await asyncio.gather(*(core.deposits.paysend(deposit) for _ in range(20)))
    ids = {o.transaction.id for o in outcomes if o.transaction is not None}
    assert len(ids) == 1
    assert await balances(wide, actor, wallet) == (1_234, 1_234, 0)
    async with wide.storage.engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM transactions WHERE funding_source = :s AND provider_id = :p"
            ),
            {"s": FundingSource.PAYSEND.value, "p": provider_id},
        )
    assert count == 1
    await assert_audit_clean(wide)


async def test_no_error_escapes_as_anything_but_a_domain_error(wide: Container) -> None:
    """Random interleavings of every operation on a few wallets: each call either succeeds or
    raises a domain error (never a driver error), and the ledger stays consistent."""
    core = wide.core
    admin = await staff(wide)
    people = [await person(wide) for _ in range(4)]
    for _, wallet in people:
        await core.deposits.manual(admin, amount="20.00", wallet_id=wallet.id)
    rng = random.Random(11)
    created: list[tuple[UUID, Actor, Actor]] = []

    async def step(n: int) -> None:
        kind = rng.choice(["send", "send", "act", "cashout"])
        (actor, _), (other, other_wallet) = rng.sample(people, 2)
        try:
            if kind == "send":
                transaction = await core.transfers.create_transfer(
                    actor, amount=f"{rng.randint(1, 900) / 100:.2f}", recipient=str(other_wallet.id)
                )
                created.append((transaction.id, actor, other))
            elif kind == "act" and created:
                transaction_id, sender, recipient = rng.choice(created)
                who, action = rng.choice(
                    [(recipient, "accept"), (recipient, "reject"), (sender, "cancel")]
                )
                await core.transactions.act(who, transaction_id, action)
            elif kind == "cashout":
                await core.cashouts.request(actor, amount=f"{rng.randint(1, 500) / 100:.2f}")
        except DomainError:
            pass

    await asyncio.gather(*(step(n) for n in range(150)))
    await assert_audit_clean(wide)
