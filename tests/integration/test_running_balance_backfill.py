"""Migration 0005 backfills the running balance of every existing line: a history written by
the application, taken back below 0005 (the column goes) and up again, gets exactly the
balances the write path had stored, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.sql.engine import create_engine, plain_url
from adapters.sql.migrate import downgrade, upgrade
from adapters.sql.pg_ledger import AsyncpgLedger
from adapters.sql.storage import SqlStorage
from databases import create_database, drop_database
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.services.wallets import WalletListParams
from wallet_core.testing import build_in_memory
from wallet_core.testing.fakes import (
    ManualClock,
)

PASSWORD = "correct horse battery staple"


async def _history(url: str, postgres: bool) -> None:
    clock = ManualClock()
    storage = SqlStorage(create_engine(url, pool_size=2, max_overflow=2))
    ledger = AsyncpgLedger(plain_url(url)) if postgres else None
    core = build_in_memory(storage=storage, ledger=ledger, clock=clock)
    people = []
    for n, staff in enumerate((True, False, False)):
        name = f"b{uuid.uuid4().hex[:10]}"
        user, _ = await core.auth.register(
            Registration(f"{name}@example.com", name, PASSWORD, f"+1415777{n:04d}", is_staff=staff)
        )
        people.append((Actor(user.id, staff, user.email), name))
    (staff, _), (alice, _), (bob, bob_name) = people
    alice_wallet = (await core.wallets.list(alice, WalletListParams())).items[0]
    try:
        for cents in (1000, 250, 1):
            await core.transfers.deposit(
                staff, amount=f"{cents / 100:.2f}", wallet_id=alice_wallet.id, description="d"
            )
        for _ in range(3):  # same clock reading: lines a microsecond apart
            sent = await core.transfers.create_transfer(alice, amount="1.50", recipient=bob_name)
            await core.transfers.act(bob, sent.id, "accept")  # type: ignore[union-attr]
        clock.advance(timedelta(hours=1))
        await core.transfers.create_transfer(bob, amount="2.00", recipient=str(alice_wallet.id))
    finally:
        if ledger is not None:
            await ledger.close()
        await storage.close()


async def _balances(url: str) -> dict[str, int | None]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, balance_after FROM entries"))
            return {str(r[0]): r[1] for r in rows}
    finally:
        await engine.dispose()


async def _check_backfill(url: str, postgres: bool) -> None:
    await asyncio.to_thread(upgrade, url)
    await _history(url, postgres)
    written = await _balances(url)
    assert sum(v is not None for v in written.values()) >= 12
    await asyncio.to_thread(downgrade, url, "0004")
    await asyncio.to_thread(upgrade, url)
    assert await _balances(url) == written


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await create_database("wallet_backfill")
    yield url
    await drop_database(url)


async def test_backfill_on_postgres(postgres_url: str) -> None:
    await _check_backfill(postgres_url, postgres=True)


async def test_backfill_on_sqlite(tmp_path: Path) -> None:
    await _check_backfill(f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}", postgres=False)
