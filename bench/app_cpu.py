"""The Python CPU of one transfer pair (create + accept) through the whole application, with no
server and no load generator around it: the figure a change to our own code moves.

    BENCH_REDIS_URL=redis://127.0.0.1:6379/8 uv run python bench/app_cpu.py [--pairs 300]
        [--rounds 5] [--log-level info] [--profile [--dump PATH]]

On a database of its own (seeded like ``run.py --quick``) and the production configuration, it
builds the ASGI app in this process and calls it directly, one request after another (the same
requests ``run.py`` sends: a transfer to a random user's wallet, then its accept), so
PostgreSQL and Redis are real and the process's own CPU time is nothing but the application:
Litestar, our layers, asyncpg and the Redis client. ``bench/run.py`` measures the service under
load, which on this shared machine swings too much (about 15% between runs) to see a change of a
few percent; this does not, since nothing else runs in the process. Prints the CPU milliseconds
per pair of each round and their min / median / max, and the WAL PostgreSQL wrote per pair
(a byte count: it does not move with the load either); ``--profile`` adds a cProfile run and the
share of CPU by library and by our modules, and the number of Python function calls per pair: a
count, which does not move with the machine's load, so two revisions compare exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import pstats
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adapters.sql.migrate import upgrade
from run import REDIS, SECRET_KEY, admin, database, server_env
from seed import dsn, seed

Asgi = Any


async def call(app: Asgi, method: str, path: str, token: str, body: bytes) -> tuple[int, bytes]:
    """One request straight into the ASGI app, as granian would hand it over."""
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"idempotency-key", uuid.uuid4().hex.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False
    answer: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the client stays
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return answer["status"], b"".join(chunks)


async def pair(app: Asgi, users: list[dict[str, str]], rng: random.Random) -> None:
    sender, recipient = rng.sample(users, 2)
    body = json.dumps({"type": "transfer", "amount": "0.01", "recipient": recipient["wallet_id"]})
    status, created = await call(
        app, "POST", "/api/v1/wallet/transactions", sender["token"], body.encode()
    )
    assert status == 201, created
    path = f"/api/v1/wallet/transactions/{json.loads(created)['id']}/action"
    status, accepted = await call(app, "POST", path, recipient["token"], b'{"action":"accept"}')
    assert status == 200, accepted


async def wal_position(url: str) -> str:
    conn = await asyncpg.connect(dsn(url))
    try:
        return str(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    finally:
        await conn.close()


async def wal_since(url: str, position: str) -> int:
    """Bytes of WAL written since ``position``: what the database had to make durable."""
    conn = await asyncpg.connect(dsn(url))
    try:
        return int(
            await conn.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)", position
            )
        )
    finally:
        await conn.close()


def shares(profile: cProfile.Profile, pairs: int) -> None:
    """Self time by library (site-packages), standard library module, and our own packages."""
    stats = pstats.Stats(profile)
    by: collections.Counter[str] = collections.Counter()
    for (file, _, name), (_, _, self_time, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "poll" in name:
            continue  # the event loop waiting for PostgreSQL and Redis: not CPU
        if found := re.search(r"site-packages/([^/]+)/", file):
            where = found.group(1)
        elif "/src/" in file:
            where = "/".join(file.split("/src/")[1].split("/")[:2])
        elif found := re.search(r"python3\.\d+/([^/]+)", file):
            where = "stdlib " + found.group(1).removesuffix(".py")
        else:
            where = "builtins" if file == "~" else file
        by[where] += self_time
    total = sum(by.values())
    calls = sum(n for (_, n, _, _, _) in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\nPython function calls per pair (steady, unlike time): {calls / pairs:,.0f}")
    print(f"self time by where it is spent (cProfile, {total:.2f} s):")
    for where, seconds in by.most_common(20):
        print(f"  {seconds / total:6.1%}  {where}")


async def measure(args: argparse.Namespace, url: str) -> None:
    from entrypoints.http.app import create_app
    from entrypoints.settings import load_settings

    data = await seed(url, args.users, 0, SECRET_KEY)
    env = {**server_env(url), "LOG_LEVEL": args.log_level}
    settings = load_settings(env, env_file=None)
    # As a server worker runs it: the app builds its own container in its lifespan (logging,
    # session marks kept current, metrics), without the background jobs a worker process runs.
    app = create_app(settings, run_background_jobs=False)
    rng = random.Random(7)
    async with app.lifespan():
        for _ in range(50):  # pools open, statements prepared
            await pair(app, data["users"], rng)
        rounds = []
        wal_before = await wal_position(url)
        for number in range(args.rounds):
            started = time.process_time()
            for _ in range(args.pairs):
                await pair(app, data["users"], rng)
            rounds.append((time.process_time() - started) / args.pairs * 1000)
            print(f"round {number + 1}: {rounds[-1]:.2f} ms of CPU per pair", flush=True)
        wal = await wal_since(url, wal_before) / (args.rounds * args.pairs)
        print(
            f"CPU per pair (ms): min {min(rounds):.2f}  median {statistics.median(rounds):.2f}"
            f"  max {max(rounds):.2f}"
        )
        print(f"WAL per pair: {wal:,.0f} bytes (the whole cluster's: run it on a quiet one)")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.pairs):
                await pair(app, data["users"], rng)
            profile.disable()
            shares(profile, args.pairs)
            if args.dump:
                profile.dump_stats(args.dump)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--log-level", default="warning", help="info: with the access log")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path, help="with --profile: save the pstats here")
    args = parser.parse_args()
    name = f"wallet_appcpu_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = database(name)
    try:
        upgrade(url)
        asyncio.run(measure(args, url))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"(Redis: {REDIS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
