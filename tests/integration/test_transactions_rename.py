"""Migration 0006 renames ``transfers`` to ``transactions`` (and ``transfer_id``,
``transfer_count``, every index and constraint named after them) without losing or changing a
row, and back again, on PostgreSQL and SQLite; outbox notifications keep their transaction id
under the new key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from adapters.sql.engine import create_engine
from adapters.sql.migrate import downgrade, upgrade
from databases import create_database, drop_database
from histories import write_history


async def _snapshot(url: str, table: str, entry: str, count: str) -> dict[str, Any]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT id, status, amount FROM {table} ORDER BY id"))
            lines = await conn.execute(text(f"SELECT id, {entry} FROM entries ORDER BY id"))
            counts = await conn.execute(text(f"SELECT id, {count} FROM accounts ORDER BY id"))
            outbox = await conn.execute(text("SELECT payload FROM outbox_events"))
            payloads = [p if isinstance(p, dict) else json.loads(p) for (p,) in outbox]

            def names(sync: Any) -> list[str]:
                found = inspect(sync)
                named = []
                for name in (table, "entries", "accounts"):
                    named += [i["name"] for i in found.get_indexes(name)]
                return named

            return {
                "rows": [tuple(str(v) for v in r) for r in rows],
                "lines": [tuple(str(v) for v in r) for r in lines],
                "counts": [tuple(str(v) for v in r) for r in counts],
                "notified": sorted(p[entry] for p in payloads),
                "keys": {k for p in payloads for k in p},
                "indexes": await conn.run_sync(names),
            }
    finally:
        await engine.dispose()


async def _check_rename(url: str, postgres: bool) -> None:
    await asyncio.to_thread(upgrade, url)
    await write_history(url, postgres)
    after = await _snapshot(url, "transactions", "transaction_id", "transaction_count")
    assert len(after["rows"]) >= 7 and after["notified"], after
    assert not any("transfer" in name for name in after["indexes"]), after["indexes"]
    assert "ix_transactions_created_at_id" in after["indexes"]
    assert "transfer_id" not in after["keys"]

    await asyncio.to_thread(downgrade, url, "0005")
    before = await _snapshot(url, "transfers", "transfer_id", "transfer_count")
    assert "ix_transfers_created_at_id" in before["indexes"]
    assert "transaction_id" not in before["keys"]
    for part in ("rows", "lines", "counts", "notified"):
        assert before[part] == after[part], part

    await asyncio.to_thread(upgrade, url)
    again = await _snapshot(url, "transactions", "transaction_id", "transaction_count")
    assert again == after


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await create_database("wallet_rename")
    yield url
    await drop_database(url)


async def test_rename_on_postgres(postgres_url: str) -> None:
    await _check_rename(postgres_url, postgres=True)


async def test_rename_on_sqlite(tmp_path: Path) -> None:
    await _check_rename(f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}", postgres=False)
