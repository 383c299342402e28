"""The partial indexes still serve the queries they exist for: with sequential scans ruled out,
PostgreSQL answers each lookup from its index, so leaving the rows without a value out of the
index (migration 0007) cost no lookup its index."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from adapters.sql.repositories.base import transactions_t
from adapters.sql.repositories.transactions import _metadata_filter


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _indexes(plan: Any) -> set[str]:
    found = set()
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return found


def _metadata_query() -> str:
    """The list filter ``metadata[k]=v`` as the repository writes it."""
    stmt = select(transactions_t.c.id).where(*_metadata_filter([("k", "v")], "postgresql"))
    return str(stmt.compile(dialect=postgresql.asyncpg.dialect()))


QUERIES = {
    "uq_transactions_source_provider_id": (
        "SELECT id FROM transactions WHERE funding_source = $1 AND provider_id = $2",
        ["paysend", "p-1"],
    ),
    "ix_transactions_code_digest": (
        "SELECT id FROM transactions WHERE code_digest = ANY($1::text[]) AND type = 'withdrawal'",
        [["a", "b"]],
    ),
    "ix_transactions_reverses": ("SELECT id FROM transactions WHERE reverses = $1::uuid", [None]),
    "ix_transactions_metadata": (_metadata_query(), [json.dumps({"k": "v"})]),
    "ix_entries_account_posted": (
        "SELECT posted_at, balance_after FROM entries WHERE account_id = $1::uuid"
        " AND balance_after IS NOT NULL ORDER BY posted_at DESC LIMIT 1",
        [None],
    ),
}


@pytest.mark.parametrize("index", sorted(QUERIES))
async def test_the_lookup_uses_its_partial_index(database_url: str, index: str) -> None:
    sql, args = QUERIES[index]
    if index in ("ix_transactions_reverses", "ix_entries_account_posted"):
        args = ["01890000-0000-7000-8000-000000000000"]
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
    finally:
        await conn.close()
    assert index in _indexes(plan), plan
