"""Migration 0005 backfills the running balance of every existing line: a history written by
the application, taken back below 0005 (the column goes) and up again, gets exactly the
balances the write path had stored, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.sql.engine import create_engine
from adapters.sql.migrate import downgrade, upgrade
from databases import create_database, drop_database
from histories import write_history


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
    await write_history(url, postgres)
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
