"""The statement property, over random histories (deposits, transfers, accepts, rejects,
cash-outs, reversals, clock ticks), on the in-memory adapters and on real PostgreSQL (its one
write statement): for every posted line of every wallet,

    balance(at=posted_at) == balance_after == the sum of the wallet's lines so far,

the balance just before a line is the one after the previous line (never a silent zero), the
current balance is the last line's, the statement's totals add up, the CSV export holds the same
lines, and the audit is clean."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sql.engine import create_engine, plain_url
from adapters.sql.migrate import upgrade
from adapters.sql.pg_ledger import AsyncpgLedger
from adapters.sql.storage import SqlStorage
from databases import create_database, drop_database
from wallet_core.core import WalletCore
from wallet_core.errors import DomainError
from wallet_core.ledger import Transaction, TransactionStatus
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.services.statements import EntryListParams
from wallet_core.statements import Line
from wallet_core.testing import build_in_memory
from wallet_core.testing.fakes import (
    ManualClock,
)

PASSWORD = "correct horse battery staple"


USERS = 3
#: Every example starts a day after the previous one: the clock never goes back.
CLOCK = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
PHONES = itertools.count(1_000_000)

user = st.integers(0, USERS - 1)
amount = st.integers(1, 5000)
pick = st.integers(0, 50)
OPS = st.one_of(
    st.tuples(st.just("deposit"), user, amount),
    st.tuples(st.just("send"), user, user, amount),
    st.tuples(st.just("accept"), pick),
    st.tuples(st.just("reject"), pick),
    st.tuples(st.just("cashout"), user, amount),
    st.tuples(st.just("reverse"), pick, st.one_of(st.none(), amount)),
    st.tuples(st.just("tick"), st.sampled_from([0, 0, 1, 60, 86_400])),
)
HISTORIES = st.lists(OPS, min_size=1, max_size=20)


@dataclass
class History:
    core: WalletCore
    staff: Actor
    actors: list[Actor] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    wallets: list[uuid.UUID] = field(default_factory=list)
    pending: list[Transaction] = field(default_factory=list)
    completed: list[Transaction] = field(default_factory=list)


async def _register(core: WalletCore, *, staff: bool = False) -> tuple[Actor, str, uuid.UUID]:
    name = f"p{uuid.uuid4().hex[:12]}"
    phone = f"+1415{next(PHONES):07d}"
    created, wallet = await core.auth.register(
        Registration(f"{name}@example.com", name, PASSWORD, phone, is_staff=staff)
    )
    return Actor(created.id, staff, created.email), phone, wallet.id


async def _setup(core: WalletCore) -> History:
    staff, _, _ = await _register(core, staff=True)
    history = History(core, staff)
    for _ in range(USERS):
        actor, phone, wallet = await _register(core)
        history.actors.append(actor)
        history.phones.append(phone)
        history.wallets.append(wallet)
    return history


async def _apply(h: History, op: tuple[Any, ...]) -> None:
    core, kind = h.core, op[0]
    try:
        if kind == "deposit":
            done = await core.deposits.manual(
                h.staff, amount=f"{op[2] / 100:.2f}", wallet_id=h.wallets[op[1]], description="d"
            )
            h.completed.append(done)  # type: ignore[arg-type]
        elif kind == "send":
            target = await core.wallets.get(h.staff, h.wallets[op[2]])
            sent = await core.transfers.create_transfer(
                h.actors[op[1]], amount=f"{op[3] / 100:.2f}", recipient=str(target.id)
            )
            h.pending.append(sent)  # type: ignore[arg-type]
        elif kind in ("accept", "reject") and h.pending:
            transaction = h.pending.pop(op[1] % len(h.pending))
            assert transaction.recipient is not None
            actor = next(a for a in h.actors if a.user_id == transaction.recipient.user_id)
            done = await core.transactions.act(actor, transaction.id, kind)
            if done.status is TransactionStatus.COMPLETED:  # type: ignore[union-attr]
                h.completed.append(done)  # type: ignore[arg-type]
        elif kind == "cashout":
            cashout = await core.cashouts.request(h.actors[op[1]], amount=f"{op[2] / 100:.2f}")
            done = await core.cashouts.verify(h.phones[op[1]], cashout.withdrawal_code)  # type: ignore[union-attr]
            h.completed.append(done)  # type: ignore[arg-type]
        elif kind == "reverse" and h.completed:
            original = h.completed[op[1] % len(h.completed)]
            part = None if op[2] is None else f"{op[2] / 100:.2f}"
            await core.reversals.reverse(h.staff, original.id, reason="fix", amount=part)
        elif kind == "tick":
            CLOCK.advance(timedelta(seconds=op[1]))
    except DomainError:
        pass  # refused (funds, expiry, nothing left to reverse...): nothing moved


async def _all_lines(core: WalletCore, staff: Actor, wallet_id: uuid.UUID) -> list[Line]:
    lines: list[Line] = []
    cursor = None
    while True:
        page = await core.statements.entries(
            staff, wallet_id, EntryListParams(ordering="posted_at", page_size=7, cursor=cursor)
        )
        lines += page.items
        if page.next_cursor is None:
            return lines
        cursor = page.next_cursor


async def _check(h: History) -> None:
    core, staff = h.core, h.staff
    CLOCK.advance(timedelta(seconds=1))  # every line is now in the past
    for wallet_id in h.wallets:
        lines = await _all_lines(core, staff, wallet_id)
        running = 0
        for line in lines:
            before = await core.statements.balance(
                staff, wallet_id, line.posted_at - timedelta(microseconds=1)
            )
            assert before.balance == running, (line, before)
            running += line.amount
            at = await core.statements.balance(staff, wallet_id, line.posted_at)
            assert at.balance == line.balance_after == running, (line, at)
        wallet = await core.wallets.get(staff, wallet_id)
        now = await core.statements.balance(staff, wallet_id, None)
        assert wallet.balance == now.balance == running
        whole = await core.statements.statement(staff, wallet_id, None, None)
        assert whole.opening_balance == 0
        assert whole.closing_balance == running
        assert whole.totals.count == len(lines)
        assert whole.totals.credits == sum(x.amount for x in lines if x.amount > 0)
        export = await core.statements.export(staff, wallet_id, None, None)
        assert [x async for x in export.lines] == lines
    report = await core.audit.run()
    assert report.ok, report.problems


async def _run(core: WalletCore, ops: list[tuple[Any, ...]]) -> None:
    CLOCK.advance(timedelta(days=1))
    history = await _setup(core)
    for op in ops:
        await _apply(history, op)
    await _check(history)


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(ops=HISTORIES)
async def test_statement_property_in_memory(ops: list[tuple[Any, ...]]) -> None:
    await _run(build_in_memory(clock=CLOCK), ops)


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    url = await create_database("wallet_statements")
    yield url
    await drop_database(url)


def _postgres_core(url: str) -> tuple[WalletCore, SqlStorage, AsyncpgLedger]:
    storage = SqlStorage(create_engine(url, pool_size=2, max_overflow=2))
    ledger = AsyncpgLedger(plain_url(url), pool_size=4)
    core = build_in_memory(storage=storage, ledger=ledger, clock=CLOCK)
    return core, storage, ledger


async def _run_on_postgres(url: str, ops: list[tuple[Any, ...]]) -> None:
    core, storage, ledger = _postgres_core(url)
    try:
        await _run(core, ops)
    finally:
        await ledger.close()
        await storage.close()


@PROPERTY
@given(ops=HISTORIES)
async def test_statement_property_on_postgres(
    postgres_url: str, ops: list[tuple[Any, ...]]
) -> None:
    await _run_on_postgres(postgres_url, ops)


@pytest.fixture(scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('statements') / 'wallet.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


async def _run_on_sqlite(url: str, ops: list[tuple[Any, ...]]) -> None:
    storage = SqlStorage(create_engine(url))
    core = build_in_memory(storage=storage, clock=CLOCK)
    try:
        await _run(core, ops)
    finally:
        await storage.close()


@settings(PROPERTY, max_examples=15)
@given(ops=HISTORIES)
async def test_statement_property_on_sqlite(sqlite_url: str, ops: list[tuple[Any, ...]]) -> None:
    """The embedded database: the unit-of-work ledger and the SQL statement reads."""
    await _run_on_sqlite(sqlite_url, ops)
