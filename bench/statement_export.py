"""Statements at scale: peak memory of a CSV export of a 1,000,000-line statement, and the
latency of ``balance?at=`` on a wallet with 1,000,000 posted lines.

    uv run python bench/statement_export.py [--lines 1000000] [--probes 500]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]

A throwaway database is created on the server, migrated, and seeded in SQL (one wallet, one
deposit per line, each with its running balance); it is dropped at the end. The export runs the
same code as ``GET /wallet/{id}/statement?format=csv`` (the statement service's keyset stream and
the controller's CSV writer) in this process, sampling the resident set size as it goes; the
balance probes call the statement service at random instants, and the plan of the lookup is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.storage import SqlStorage
from entrypoints.http.controllers.statements import csv_chunks
from wallet_core.local import (
    SystemClock,
)
from wallet_core.services.context import Actor
from wallet_core.testing import build_in_memory

START = datetime(2020, 1, 1, tzinfo=UTC)

SEED = """
WITH lines AS (
    SELECT i, gen_random_uuid() AS transaction_id, gen_random_uuid() AS entry_id,
        $4::timestamptz + i * interval '1 second' AS at
    FROM generate_series(1, $5::bigint) AS i
),
t AS (
    INSERT INTO transactions (id, type, status, amount, currency, funding_source, debit_account_id,
        credit_account_id, reference, description, recipient_user_id, recipient_username,
        recipient_wallet_id, completed_at, failed_attempts, metadata, reversed_amount,
        created_at, updated_at)
    SELECT transaction_id, 'deposit', 'completed', 100, 'USD', 'manual', $3, $2,
        'DEP-' || lpad(i::text, 10, '0'), 'bench line ' || i || ', "quoted"', $1, 'bench', $2,
        at, 0, '{}', 0, at, at
    FROM lines
    RETURNING 1
)
INSERT INTO entries (id, transaction_id, account_id, total, delta, posted_at, balance_after)
SELECT entry_id, transaction_id, $2, 'credits_posted', 100, at, 100 * i FROM lines
WHERE (SELECT count(*) FROM t) > 0
"""


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


async def seed(dsn: str, lines: int) -> tuple[uuid.UUID, uuid.UUID]:
    user, wallet, system = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO users (id, email, username, phone_number, password_hash, first_name,"
            " last_name, is_staff, is_active, created_at, updated_at)"
            " VALUES ($1, 'bench@example.com', 'bench', '+14155550000', 'x', '', '', false,"
            " true, $2, $2)",
            user,
            START,
        )
        last = START + timedelta(seconds=lines)
        await conn.execute(
            "INSERT INTO accounts (id, kind, currency, owner_id, owner_username, source,"
            " is_active, debits_posted, credits_posted, debits_pending, credits_pending,"
            " transaction_count, created_at, updated_at) VALUES"
            " ($1, 'wallet', 'USD', $3, 'bench', NULL, true, 0, $4, 0, 0, $5, $6, $7),"
            " ($2, 'system', 'USD', NULL, NULL, 'manual', true, $4, 0, 0, 0, $5, $6, $7)",
            wallet,
            system,
            user,
            100 * lines,
            lines,
            START,
            last,
        )
        began = time.perf_counter()
        await conn.execute(SEED, user, wallet, system, START, lines)
        await conn.execute("VACUUM ANALYZE entries")
        await conn.execute("VACUUM ANALYZE transfers")
        print(f"seeded {lines:,} lines in {time.perf_counter() - began:.1f} s")
    finally:
        await conn.close()
    return user, wallet


def make_core(url: str) -> tuple[object, SqlStorage]:
    clock = SystemClock()
    storage = SqlStorage(create_engine(url, pool_size=2, max_overflow=0))
    core = build_in_memory(storage=storage, clock=clock)
    return core, storage


async def measure(url: str, dsn: str, user: uuid.UUID, wallet: uuid.UUID, args: object) -> None:
    core, storage = make_core(url)
    owner = Actor(user, False)
    try:
        baseline = rss_kib()
        peak = baseline
        began = time.perf_counter()
        export = await core.statements.export(owner, wallet, None, None)  # type: ignore[attr-defined]
        size = rows = 0
        async for chunk in csv_chunks(export, core.ctx.currencies):  # type: ignore[attr-defined]
            size += len(chunk)
            rows += chunk.count(b"\r\n")
            peak = max(peak, rss_kib())
        elapsed = time.perf_counter() - began
        print(
            f"CSV export: {rows - 1:,} lines + header, {size / 2**20:.1f} MiB in {elapsed:.1f} s"
            f" ({(rows - 1) / elapsed:,.0f} lines/s); RSS {baseline / 1024:.1f} MiB before,"
            f" peak {peak / 1024:.1f} MiB during (+{(peak - baseline) / 1024:.1f} MiB);"
            f" ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB"
        )
        lines = args.lines  # type: ignore[attr-defined]
        latencies = []
        for _ in range(args.probes):  # type: ignore[attr-defined]
            at = START + timedelta(seconds=random.uniform(0, lines + 10))
            t0 = time.perf_counter()
            found = await core.statements.balance(owner, wallet, at)  # type: ignore[attr-defined]
            latencies.append((time.perf_counter() - t0) * 1000)
            expected = 100 * min(lines, max(0, int((at - START).total_seconds())))
            assert found.balance == expected, (at, found.balance, expected)
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"balance?at= over {lines:,} lines, {len(latencies)} random instants: p50"
            f" {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms"
            " (service call: wallet read + balance lookup, two queries)"
        )
        conn = await asyncpg.connect(dsn)
        try:
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT balance_after FROM entries"
                " WHERE account_id = $1 AND balance_after IS NOT NULL AND posted_at <= $2"
                " ORDER BY posted_at DESC LIMIT 1",
                wallet,
                START + timedelta(seconds=lines // 2),
            )
            print("plan of the lookup:")
            for row in plan:
                print("   ", row[0])
        finally:
            await conn.close()
    finally:
        await storage.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"wallet_bench_statements_{uuid.uuid4().hex[:8]}"
    server = make_url(args.server)
    admin = await asyncpg.connect(server.render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        user, wallet = await seed(url, args.lines)
        await measure(url, url, user, wallet, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
