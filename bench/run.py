"""The benchmark suite: one command, one table.

    uv run python bench/run.py [--seconds 15] [--clients 32] [--workers 2] [--rows 1000000]

On a fresh database of its own it seeds users (and one wallet with ``--rows`` transactions, by
COPY), starts the production server (granian, ``--workers`` processes, Redis, ENV=production),
then measures from a separate load-generator process:
  1. pgbench's TPC-B-like script (same server, duration and client count): the reference;
  2. transfer create + accept over HTTP between random users;
  3. the same with one hot sender wallet;
  4. Paysend webhook deposits;
  5. GET /wallet/transactions cached, uncached, page 1,000 and keyset at the same depth;
  6. login (argon2id with production parameters);
then the p99 of (2) at half its peak rate, the API workers' RSS, and ``wallet audit``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import scenarios  # noqa: E402
from adapters.security.jwt_tokens import JwtTokenIssuer  # noqa: E402
from adapters.sql.migrate import upgrade  # noqa: E402
from entrypoints.bootstrap import build  # noqa: E402
from entrypoints.settings import load_settings  # noqa: E402
from loadgen import run_in_process  # noqa: E402
from wallet_core.queries import Cursor, Ordering, encode_cursor  # noqa: E402
from wallet_core.services.auth import Registration  # noqa: E402
from wallet_core.services.context import Actor  # noqa: E402

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PASSWORD = "bench passphrase 0123"
SECRET_KEY = "bench-secret-key-" + "x" * 40
PAYSEND_SECRET = "bench-paysend-secret-0123456789"


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database(name: str) -> str:
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(dsn(SERVER))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def server_env(url: str, workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS,
        "EMAIL_BACKEND": "smtp",
        "SMTP_PORT": "1",
        "PAYSEND_WEBHOOK_SECRETS": PAYSEND_SECRET,
        "RATE_LIMIT_ANON": "100000000/day",
        "RATE_LIMIT_USER": "100000000/day",
        "RATE_LIMIT_REGISTRATION": "100000000/day",
        "RATE_LIMIT_WALLET": "100000000/day",
        "RATE_LIMIT_WEBHOOK": "100000000/day",
        "LOG_LEVEL": "warning",
        "DB_POOL_SIZE": os.environ.get("BENCH_DB_POOL_SIZE", "10"),
        "DB_MAX_OVERFLOW": "5",
    }


def progress(line: str) -> None:
    """A counter on stderr: one line rewritten in place on a terminal, else one line each."""
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


async def seed(url: str, users: int, rows: int) -> dict[str, Any]:
    """Users with funded wallets, one hot sender, one wallet with ``rows`` transactions."""
    settings = load_settings(
        {
            "DATABASE_URL": url,
            "ENV": "test",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8",
        },
        env_file=None,
    )
    container = build(settings)
    core = container.core
    tokens = JwtTokenIssuer(SECRET_KEY, ttl_seconds=6 * 3600)
    now = datetime.now(UTC)
    staff_user, _ = await core.auth.register(
        Registration("ops@bench.test", "ops", PASSWORD, "+19990000000", is_staff=True)
    )
    staff = Actor(staff_user.id, is_staff=True)

    async def person(i: int, amount: str) -> dict[str, Any]:
        user, wallet = await core.auth.register(
            Registration(f"u{i}@bench.test", f"user{i}", PASSWORD, f"+1999{i:07d}")
        )
        await core.transfers.deposit(staff, amount=amount, wallet_id=wallet.id)
        return {
            "id": str(user.id),
            "wallet_id": str(wallet.id),
            "phone": user.phone_number,
            "token": tokens.issue_access(user, now).token,
        }

    people = []
    for start in range(1, users + 1, 50):
        people += await asyncio.gather(
            *(person(i, "100000.00") for i in range(start, min(start + 50, users + 1)))
        )
        progress(f"seeding: {len(people):,}/{users:,} users")
    hot = await person(users + 1, "100000000.00")
    heavy = await person(users + 2, "1.00")
    # The login user has a production-strength hash, like everyone in production would.
    from adapters.security.argon2_hasher import Argon2PasswordHasher

    real_hash = await Argon2PasswordHasher().hash(PASSWORD)
    await container.close()
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute(
            "UPDATE users SET password_hash = $1 WHERE email = 'u1@bench.test'", real_hash
        )
        progress(f"seeding: {rows:,} transactions by COPY")
        cursor = await copy_transactions(conn, heavy, rows)
        if sys.stderr.isatty():
            print(file=sys.stderr)  # end the counter's line
    finally:
        await conn.close()
    heavy["cursor"] = cursor
    return {
        "users": people,
        "hot": hot,
        "heavy": heavy,
        "paysend_secret": PAYSEND_SECRET,
        "login": {"email": "u1@bench.test", "password": PASSWORD},
    }


async def copy_transactions(conn: asyncpg.Connection, heavy: dict[str, Any], rows: int) -> str:
    """``rows`` completed manual deposits into the heavy wallet, by COPY, with their entries and
    the accounts' totals kept consistent (the audit stays clean). Returns the keyset cursor that
    sits at page 1,000 (row 9,990) of the default ordering."""
    wallet = uuid.UUID(heavy["wallet_id"])
    user = uuid.UUID(heavy["id"])
    username = await conn.fetchval("SELECT username FROM users WHERE id = $1", user)
    source = await conn.fetchval(
        "SELECT id FROM accounts WHERE kind = 'system' AND source = 'manual' AND currency = 'USD'"
    )
    base = datetime.now(UTC) - timedelta(days=30)
    from uuid_utils.compat import uuid7

    transfers, entries = [], []
    for i in range(rows):
        created = base + timedelta(microseconds=i * 2000)
        tid = uuid7()
        transfers.append(
            (
                tid,
                "deposit",
                "completed",
                1,
                "USD",
                "manual",
                source,
                wallet,
                f"BCH-{i:010d}",
                "seeded",
                None,
                None,
                None,
                None,
                user,
                username,
                wallet,
                None,
                created,
                None,
                0,
                created,
                created,
            )
        )
        entries.append((uuid7(), tid, source, "debits_posted", 1, created))
        entries.append((uuid7(), tid, wallet, "credits_posted", 1, created))
    columns = [
        "id",
        "type",
        "status",
        "amount",
        "currency",
        "funding_source",
        "debit_account_id",
        "credit_account_id",
        "reference",
        "description",
        "provider_id",
        "sender_user_id",
        "sender_username",
        "sender_wallet_id",
        "recipient_user_id",
        "recipient_username",
        "recipient_wallet_id",
        "expires_at",
        "completed_at",
        "code_digest",
        "failed_attempts",
        "created_at",
        "updated_at",
    ]
    async with conn.transaction():
        await conn.copy_records_to_table("transfers", records=transfers, columns=columns)
        await conn.copy_records_to_table(
            "entries",
            records=entries,
            columns=["id", "transfer_id", "account_id", "total", "delta", "created_at"],
        )
        await conn.execute(
            "UPDATE accounts SET credits_posted = credits_posted + $1, "
            "transfer_count = transfer_count + $1 WHERE id = $2",
            rows,
            wallet,
        )
        await conn.execute(
            "UPDATE accounts SET debits_posted = debits_posted + $1, "
            "transfer_count = transfer_count + $1 WHERE id = $2",
            rows,
            source,
        )
    await conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
    depth = min(9_990, rows - 1)
    row = await conn.fetchrow(
        "SELECT id, created_at FROM transfers WHERE recipient_user_id = $1 OR sender_user_id = $1 "
        "ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
        user,
        depth - 1,
    )
    ordering = (Ordering("created_at", descending=True),)
    return encode_cursor(Cursor((row["created_at"],), row["id"]), ordering)


def pgbench(seconds: int, clients: int) -> dict[str, Any]:
    name = f"pgbench_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER)
    args = [
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]
    try:
        subprocess.run(
            ["pgbench", *args, "-i", "-s", "10", "-q", name], check=True, capture_output=True
        )
        out = subprocess.run(
            [
                "pgbench",
                *args,
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-r",
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    latency = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))  # type: ignore[union-attr]
    return {
        "name": "1 pgbench TPC-B (reference)",
        "ops_per_s": tps,
        "req_per_s": tps,
        "p50_ms": latency,
        "p95_ms": float("nan"),
        "p99_ms": float("nan"),
        "errors": 0,
        "statuses": {},
        "operations": int(tps * seconds),
    }


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=server_env(url, workers),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready")


def worker_rss_mb(server: subprocess.Popen[bytes]) -> list[float]:
    children = subprocess.run(
        ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
    ).stdout.split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            if match:
                sizes.append(int(match[1]) / 1024)
    return sizes


def audit(url: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "ENV": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "audit"], env=env, capture_output=True, text=True
    )
    return "clean" if done.returncode == 0 else "FAILED: " + done.stdout[-500:]


def table(rows: list[dict[str, Any]], reference: float) -> str:
    lines = [
        f"{'scenario':<44} {'ops/s':>9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs (1)':>7}",
        "-" * 108,
    ]
    for r in rows:
        ratio = f"{r['ops_per_s'] / reference:.0%}" if r["name"][0] in "23" else ""
        lines.append(
            f"{r['name']:<44} {r['ops_per_s']:>9.0f} {r['req_per_s']:>9.0f} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>7} {ratio:>7}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()

    name = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    url = database(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    server = None
    rows: list[dict[str, Any]] = []
    try:
        print(
            f"database {name}: migrating and seeding {args.users} users, {args.rows:,} transactions ...",
            flush=True,
        )
        upgrade(url)
        started = time.perf_counter()
        data = asyncio.run(seed(url, args.users, args.rows))
        print(f"seeded in {time.perf_counter() - started:.0f}s", flush=True)
        data_file = Path(tempfile.mkdtemp()) / "bench.json"
        data_file.write_text(json.dumps(data))
        f = str(data_file)

        print("1. pgbench ...", flush=True)
        reference = pgbench(args.seconds, args.clients)
        rows.append(reference)
        server = start_server(url, args.port, args.workers)
        common = {
            "host": "127.0.0.1",
            "port": args.port,
            "connections": args.clients,
            "seconds": args.seconds,
        }
        calibration = run_in_process(
            scenarios.live, {}, name="0 load generator ceiling (GET /health/live)", **common
        )
        plan = [
            (scenarios.transfers, {"data_file": f}, "2 transfer create + accept (uniform pairs)"),
            (
                scenarios.transfers,
                {"data_file": f, "hot": True},
                "3 transfer create + accept (hot sender)",
            ),
            (scenarios.paysend, {"data_file": f}, "4 Paysend webhook deposits"),
            (
                scenarios.transactions,
                {"data_file": f, "mode": "cached"},
                "5a GET transactions, cached",
            ),
            (
                scenarios.transactions,
                {"data_file": f, "mode": "uncached"},
                "5b GET transactions, uncached",
            ),
            (
                scenarios.transactions,
                {"data_file": f, "mode": "page1000"},
                "5c GET transactions, page 1,000 (offset)",
            ),
            (
                scenarios.transactions,
                {"data_file": f, "mode": "keyset"},
                "5d GET transactions, keyset at row 9,990",
            ),
            (scenarios.login, {"data_file": f}, "6 login (argon2id)"),
            (scenarios.me, {"data_file": f}, "7 GET /users/me (authenticated read)"),
        ]
        for factory, factory_args, label in plan:
            print(f"{label} ...", flush=True)
            rows.append(run_in_process(factory, factory_args, name=label, **common))
        peak = rows[1]["ops_per_s"]
        print("2 and 5d at half their peak rates ...", flush=True)
        rows.append(
            run_in_process(
                scenarios.transfers,
                {"data_file": f},
                name="2' transfer create + accept @ 50% peak",
                rate=peak / 2,
                **common,
            )
        )
        keyset_peak = rows[7]["ops_per_s"]
        rows.append(
            run_in_process(
                scenarios.transactions,
                {"data_file": f, "mode": "keyset"},
                name="5d' keyset at row 9,990 @ 50% peak",
                rate=keyset_peak / 2,
                **common,
            )
        )
        rss = worker_rss_mb(server)
        rows.insert(1, calibration)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    result = audit(url)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print()
    print(table(rows, reference["ops_per_s"]))
    print()
    print(f"API worker RSS (MB): {', '.join(f'{s:.0f}' for s in rss) or 'n/a'}")
    print(f"audit after the run: {result}")


if __name__ == "__main__":
    main()
