"""Transfer + accept on PostgreSQL through the core and the SQL adapter, single process.

    uv run python bench/ledger_tps.py [--seconds 10] [--concurrency 16] [--users 200]

Creates its own database on BENCH_DATABASE_URL's server (default the local one), seeds users,
then runs create-transfer + accept pairs between random users for the given time and prints pairs
per second, latency percentiles, and the audit result. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from adapters.sql.migrate import upgrade
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from wallet_core.local import MemoryNotifier
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def main(seconds: float, concurrency: int, users: int) -> None:
    name = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(SERVER))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        settings = load_settings(
            {
                "DATABASE_URL": url,
                "ENV": "test",
                "ARGON2_TIME_COST": "1",
                "ARGON2_MEMORY_COST_KIB": "8",
                "DB_POOL_SIZE": str(concurrency),
                "DB_MAX_OVERFLOW": "0",
            },
            env_file=None,
        )
        container = build(settings, notifier=MemoryNotifier())
        core = container.core
        staff_user, _ = await core.auth.register(
            Registration(
                "ops@bench.test", "ops", "bench passphrase 1", "+15559999999", is_staff=True
            )
        )
        staff = Actor(staff_user.id, is_staff=True)
        people = []
        for i in range(users):
            user, wallet = await core.auth.register(
                Registration(f"u{i}@bench.test", f"user{i}", "bench passphrase 1", f"+1555{i:07d}")
            )
            await core.deposits.manual(staff, amount="1000000.00", wallet_id=wallet.id)
            people.append((Actor(user.id), wallet))
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        rng = random.Random(1)

        async def worker() -> None:
            while time.perf_counter() < deadline:
                (sender, _), (recipient, wallet) = rng.sample(people, 2)
                started = time.perf_counter()
                transaction = await core.transfers.create_transfer(
                    sender, amount="1.00", recipient=str(wallet.id)
                )
                await core.transactions.act(recipient, transaction.id, "accept")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        report = await core.audit.run()
        await container.close()
        latencies.sort()
        q = statistics.quantiles(latencies, n=100)
        print(
            f"transfer+accept pairs: {len(latencies)} in {elapsed:.1f}s, concurrency {concurrency}"
        )
        rate = len(latencies) / elapsed
        print(f"pairs/s: {rate:.0f}  (= {2 * rate:.0f} money-moving transactions/s)")
        p50, p95, p99 = (q[i] * 1000 for i in (49, 94, 98))
        print(f"latency per pair ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}")
        print(f"audit: {'clean' if report.ok else report.problems}")
    finally:
        admin = await asyncpg.connect(_dsn(SERVER))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.concurrency, args.users))
