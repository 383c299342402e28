"""The benchmark suite: one command, one table, the money path's ratios.

    uv run python bench/run.py [--quick] [--json PATH] [--seconds 15] [--clients 32]
                               [--workers 2] [--users 1000] [--rows 1000000]

On a fresh database of its own it seeds users (and one wallet with ``--rows`` transactions, by
COPY), captures the statements one transfer pair (create + accept) sends, then measures, all
in this one run and with the same client count:
  1. pgbench's TPC-B-like script: the reference;
  1b. pgbench replaying our pair's own statements between random people: the database floor;
  2. transfer create + accept over HTTP between random users (the production server: granian,
     ``--workers`` processes, Redis, ENV=production; load from a separate process);
  3. the same with one hot sender wallet;
  4-6. (not with --quick) Paysend deposits, GET /wallet/transactions four ways, login;
  7. GET /users/me, an authenticated read;
  8. the floor app (bench/floor_app.py: the same statements, no domain layer), same load;
  2'. (2) at half its peak rate, for its p99;
then the ratios and targets (bench/report.py), CPU per pair, the workers' RSS, ``wallet audit``.
``--quick``: 200 users, 2,000 rows, 5 s per scenario, the money scenarios only (about 2 min).
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
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import cpu  # noqa: E402
import floor_sql  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import statements  # noqa: E402
from adapters.sql.migrate import upgrade  # noqa: E402
from loadgen import run_in_process  # noqa: E402
from seed import PAYSEND_SECRET, dsn, seed  # noqa: E402

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET_KEY = "bench-secret-key-" + "x" * 40


def database(name: str) -> str:
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(dsn(SERVER))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def server_env(url: str, workers: int = 1) -> dict[str, str]:
    """The production server's environment (``workers`` is the serve command's, not here)."""
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


def start(
    command: list[str], env: dict[str, str], port: int, ready: str
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command[:4]} did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def start_service(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "entrypoints.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    return start(command, server_env(url), port, "/health/ready")


def start_floor_app(url: str, capture: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "bench"),
        "FLOOR_CAPTURE": str(capture),
        "FLOOR_DSN": dsn(url),
        "FLOOR_SECRET_KEY": SECRET_KEY,
        "FLOOR_POOL_SIZE": os.environ.get("BENCH_DB_POOL_SIZE", "10"),
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
    command += ["--no-access-log", "--workers", str(workers), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--backlog", "2048", "floor_app:create"]
    return start(command, env, port, "/api/v1/wallet/transactions")


def worker_rss_mb(server: subprocess.Popen[bytes]) -> list[float]:
    sizes = []
    for pid in cpu.descendants(server.pid)[1:]:
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


def pgbench_row(name: str, tps: float, seconds: int) -> dict[str, Any]:
    nan = float("nan")
    return {
        "name": name,
        "ops_per_s": tps,
        "req_per_s": tps,
        "p50_ms": nan,
        "p95_ms": nan,
        "p99_ms": nan,
        "errors": 0,
        "statuses": {},
        "operations": int(tps * seconds),
    }


def table(rows: list[dict[str, Any]], reference: float) -> str:
    lines = [
        f"{'scenario':<46} {'ops/s':>9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'vs (1)':>7}",
        "-" * 110,
    ]
    for r in rows:
        ratio = f"{r['ops_per_s'] / reference:.0%}" if r.get("pairs") else ""
        lines.append(
            f"{r['name']:<46} {r['ops_per_s']:>9.0f} {r['req_per_s']:>9.0f} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>7} {ratio:>7}"
        )
    return "\n".join(lines)


class Measure:
    """Scenarios against one server, with the CPU its processes and our database's backends use."""

    def __init__(self, name: str, common: dict[str, Any]) -> None:
        self.name, self.common = name, common
        self.rows: list[dict[str, Any]] = []
        self.cpu_ms_per_pair: dict[str, float] = {}

    def run(
        self, label: str, factory: Any, args: dict[str, Any], *, cpu_of: str = "", **extra: Any
    ) -> dict[str, Any]:
        print(f"{label} ...", flush=True)
        server = extra.pop("server", None)
        samplers = {"postgres": cpu.Sampler(lambda: cpu.backends(self.name)).start()}
        if server is not None:
            samplers["api"] = cpu.Sampler(lambda: cpu.descendants(server.pid)).start()
        row = run_in_process(factory, args, name=label, **{**self.common, **extra})
        used = {part: sampler.stop() for part, sampler in samplers.items()}
        if cpu_of and row["operations"]:
            for part, seconds in used.items():
                self.cpu_ms_per_pair[f"{cpu_of} {part}"] = 1000 * seconds / row["operations"]
        self.rows.append(row)
        return row

    def warm(self, data_file: str, **extra: Any) -> None:
        """Pairs for a couple of seconds, not counted: connections open, statements prepared."""
        args = {**self.common, "seconds": WARM_UP_SECONDS, **extra}
        run_in_process(scenarios.transfers, {"data_file": data_file}, name="warm-up", **args)


WARM_UP_SECONDS = 2

EXTRA_SCENARIOS = [
    (scenarios.paysend, {}, "4 Paysend webhook deposits"),
    (scenarios.transactions, {"mode": "cached"}, "5a GET transactions, cached"),
    (scenarios.transactions, {"mode": "uncached"}, "5b GET transactions, uncached"),
    (scenarios.transactions, {"mode": "page1000"}, "5c GET transactions, page 1,000 (offset)"),
    (scenarios.transactions, {"mode": "keyset"}, "5d GET transactions, keyset at row 9,990"),
    (scenarios.login, {}, "6 login (argon2id)"),
]


def measure(args: argparse.Namespace, name: str, url: str, work: Path) -> dict[str, Any]:
    data = json.loads((work / "bench.json").read_text())
    f = str(work / "bench.json")
    common = {"host": "127.0.0.1", "port": args.port, "connections": args.clients}
    common["seconds"] = args.seconds
    m = Measure(name, common)
    print("1 pgbench TPC-B ...", flush=True)
    reference_db = f"pgbench_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin(f'CREATE DATABASE "{reference_db}"'))
    try:
        tpcb = floor_sql.tpcb(make_url(SERVER), reference_db, args.seconds, args.clients)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{reference_db}" WITH (FORCE)'))
    m.rows.append(pgbench_row("1 pgbench TPC-B (reference)", tpcb, args.seconds))
    print("1b pgbench replaying our pair's statements ...", flush=True)
    sampler = cpu.Sampler(lambda: cpu.backends(name)).start()
    replayed = floor_sql.replay(
        make_url(url),
        work / "pair.sql",
        len(data["users"]),
        clients=args.clients,
        seconds=args.seconds,
    )
    used = sampler.stop()
    if replayed["aborted"]:
        print(f"  the replay aborted: {replayed['stderr']}", flush=True)
    if replayed["pairs"]:
        m.cpu_ms_per_pair["sql floor postgres"] = 1000 * used / replayed["pairs"]
    sql_row = pgbench_row("1b pgbench, our pair's SQL (floor)", replayed["pairs_per_s"], 0)
    m.rows.append({**sql_row, "operations": replayed["pairs"], "errors": replayed["failed"]})
    m.rows[-1]["pairs"] = True

    service = start_service(url, args.port, args.workers)
    try:
        m.warm(f)
        if not args.quick:
            m.run("0 load generator ceiling (GET /health/live)", scenarios.live, {})
        pairs = m.run(
            "2 transfer create + accept (uniform pairs)",
            scenarios.transfers,
            {"data_file": f},
            cpu_of="service",
            server=service,
        )
        hot = m.run(
            "3 transfer create + accept (hot sender)",
            scenarios.transfers,
            {"data_file": f, "hot": True},
            cpu_of="hot",
            server=service,
        )
        pairs["pairs"] = hot["pairs"] = True
        if not args.quick:
            for factory, extra, label in EXTRA_SCENARIOS:
                m.run(label, factory, {"data_file": f, **extra})
        me = m.run("7 GET /users/me (authenticated read)", scenarios.me, {"data_file": f})
        half = m.run(
            "2' transfer create + accept @ 50% peak",
            scenarios.transfers,
            {"data_file": f},
            rate=pairs["ops_per_s"] / 2,
        )
        rss = worker_rss_mb(service)
    finally:
        stop(service)
    floor = start_floor_app(url, work / "capture.json", args.floor_port, args.workers)
    try:
        m.warm(f, port=args.floor_port)
        floor_row = m.run(
            "8 floor app: create + accept (uniform pairs)",
            scenarios.transfers,
            {"data_file": f},
            cpu_of="floor app",
            server=floor,
            port=args.floor_port,
        )
        floor_row["pairs"] = True
    finally:
        stop(floor)
    print()
    print(table(m.rows, tpcb))
    print()
    print(f"API worker RSS (MB): {', '.join(f'{s:.0f}' for s in rss) or 'n/a'}")
    return {
        "tpcb_tps": tpcb,
        "pairs_per_s": pairs["ops_per_s"],
        "hot_pairs_per_s": hot["ops_per_s"],
        "floor_pairs_per_s": floor_row["ops_per_s"],
        "sql_floor_pairs_per_s": replayed["pairs_per_s"],
        "users_me_rps": me["req_per_s"],
        "p99_ms_half_peak": half["p99_ms"],
        "cpu_ms_per_pair": m.cpu_ms_per_pair,
        "errors": {r["name"]: r["errors"] for r in m.rows if r["errors"]},
    }


def prepare(args: argparse.Namespace, url: str, work: Path) -> None:
    """Seed, capture one pair's statements, write the pgbench script and its people."""
    print(f"seeding {args.users} users, {args.rows:,} transactions ...", flush=True)
    started = time.perf_counter()
    data = asyncio.run(seed(url, args.users, args.rows, SECRET_KEY))
    (work / "bench.json").write_text(json.dumps(data))
    captured = asyncio.run(statements.capture(url, REDIS, SECRET_KEY, data))
    statements.dump(captured, work / "capture.json")
    (work / "pair.sql").write_text(floor_sql.script(captured))

    async def people() -> None:
        conn = await asyncpg.connect(dsn(url))
        try:
            await floor_sql.prepare(conn, data["users"])
        finally:
            await conn.close()

    asyncio.run(people())
    print(f"seeded and captured in {time.perf_counter() - started:.0f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--floor-port", type=int, default=8090)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.users, args.rows = 5, 200, 2_000
    started = time.perf_counter()
    name = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    url = database(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    work = Path(tempfile.mkdtemp(prefix="wallet-bench-"))
    try:
        print(f"database {name}: migrating ...", flush=True)
        upgrade(url)
        prepare(args, url, work)
        figures = measure(args, name, url, work)
        print(f"audit after the run: {audit(url)}")
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print()
    print(report.summary(figures))
    print(f"\nwhole run: {time.perf_counter() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
