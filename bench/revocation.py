"""The cost of the session-revocation check: authenticated reads (``GET /api/v1/users/me``)
per second without the check, with it, and in its fallback, back to back in one run.

    uv run python bench/revocation.py [--seconds 10] [--clients 32] [--repeats 3]

One granian worker per variant on PostgreSQL and Redis (ENV=production), load from
bench/loadgen.py in a separate process; the variants alternate within each repetition so that
drift on a shared machine spreads over all of them. Variants (bench/revocation_app.py):

- ``without check``: the app with the per-request check removed (what every route did before);
- ``with check``: the production app: an in-process dictionary lookup per request while the
  marks are fresh (Redis feed + database poll running);
- ``fallback``: the background sync never runs, so the marks are never fresh and every request
  reads its user's mark from the database (what happens while Redis and the poll both fail).

200 seeded users send the requests; 100 other users have session marks, so the map is not empty.

On a loaded machine the HTTP figures are noisy, so the script also times, in process and in CPU
time, what the check adds to a request (the marks lookup and the freshness test) next to
verifying the JWT, which every authenticated request already did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import scenarios  # noqa: E402
from adapters.security.jwt_tokens import JwtTokenIssuer  # noqa: E402
from adapters.sql.migrate import upgrade  # noqa: E402
from entrypoints.bootstrap import build  # noqa: E402
from entrypoints.settings import load_settings  # noqa: E402
from loadgen import run_in_process  # noqa: E402
from run import SECRET_KEY, admin, database, server_env  # noqa: E402
from wallet_core.ports import UnitOfWork  # noqa: E402
from wallet_core.services.auth import Registration  # noqa: E402
from wallet_core.sessions import SessionMark  # noqa: E402
from wallet_core.testing.fakes import ManualClock  # noqa: E402

VARIANTS = {
    "without check": "revocation_app:without_check",
    "with check": "revocation_app:with_check",
    "fallback (db read)": "revocation_app:fallback",
}
PASSWORD = "bench passphrase 0123"


async def seed(url: str, users: int, marked: int) -> dict[str, Any]:
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
    tokens = JwtTokenIssuer(SECRET_KEY, ttl_seconds=6 * 3600)
    now = datetime.now(UTC)
    people: list[dict[str, Any]] = []
    for i in range(users + marked):
        user, _ = await container.core.auth.register(
            Registration(f"r{i}@bench.test", f"rev{i}", PASSWORD, f"+1888{i:07d}")
        )
        if i < users:
            people.append({"id": str(user.id), "token": tokens.issue_access(user, now).token})
            continue

        async def work(uow: UnitOfWork, user_id: uuid.UUID = user.id) -> None:
            await uow.session_marks.advance(user_id, now)

        await container.storage.run(work)
    await container.close()
    return {"users": people}


async def in_process_cost(url: str, rounds: int = 30, batch: int = 1000) -> tuple[float, float]:
    """CPU µs per request of (verifying the JWT, which every authenticated request did before;
    what the session check adds: the marks lookup in ``authenticate`` and ``confirm``) on the
    production core. Alternating batches, the fastest of each kind: what is left when nothing
    else on the machine gets in the way."""
    settings = load_settings(
        {"DATABASE_URL": url, "ENV": "test", "SECRET_KEY": SECRET_KEY}, env_file=None
    )
    clock = ManualClock(datetime.now(UTC))  # frozen: the marks stay fresh
    container = build(settings, clock=clock)
    try:
        sessions = container.core.sessions
        sessions.marks.learn(SessionMark(uuid.uuid4(), 1, clock.now()) for _ in range(100))
        sessions.marks.confirm(clock.now())
        tokens = JwtTokenIssuer(SECRET_KEY)
        user, _ = await container.core.auth.register(
            Registration(
                f"{uuid.uuid4().hex}@bench.test",
                uuid.uuid4().hex,
                PASSWORD,
                f"+1777{uuid.uuid4().int % 10**7:07d}",
            )
        )
        token = tokens.issue_access(user, clock.now()).token
        auth = container.core.auth
        actor = auth.authenticate(token)
        verify = added = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(batch):
                tokens.verify_access(token, clock.now())
            verify = min(verify, time.process_time() - started)
            started = time.process_time()
            for _ in range(batch):
                sessions.check(actor.user_id, actor.session_generation)
                await auth.confirm(actor)
            added = min(added, time.process_time() - started)
    finally:
        await container.close()
    return verify / batch * 1e6, added / batch * 1e6


def start(target: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "granian", "--interface", "asgi", "--factory", "--no-access-log"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1", target),
        ],
        env={**env, "PYTHONPATH": str(BENCH)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"{target} did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    """The whole process group: no granian worker outlives its variant."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()

    name = f"wallet_bench_rev_{uuid.uuid4().hex[:8]}"
    url = database(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        data_file = Path(tempfile.mkdtemp()) / "revocation.json"
        data_file.write_text(json.dumps(asyncio.run(seed(url, args.users, 100))))
        env = server_env(url, 1)
        results: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        common = {"host": "127.0.0.1", "port": args.port, "connections": args.clients}
        names = list(VARIANTS)
        for repeat in range(1, args.repeats + 1):
            # A different variant goes first each time: a machine that speeds up or slows down
            # during the run does not favour one of them.
            order = names[repeat - 1 :] + names[: repeat - 1]
            for variant in order:
                target = VARIANTS[variant]
                server = start(target, env, args.port)
                try:
                    run_in_process(
                        scenarios.me,
                        {"data_file": str(data_file)},
                        name="warmup",
                        seconds=args.warmup,
                        **common,
                    )
                    row = run_in_process(
                        scenarios.me,
                        {"data_file": str(data_file)},
                        name=variant,
                        seconds=args.seconds,
                        **common,
                    )
                finally:
                    stop(server)
                assert set(row["statuses"]) == {"200"}, row["statuses"]
                results[variant].append(row["req_per_s"])
                print(
                    f"run {repeat} {variant:<20} {row['req_per_s']:>8.0f} req/s "
                    f"p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms",
                    flush=True,
                )
        base = statistics.median(results["without check"])
        print(
            f"\nGET /api/v1/users/me, {args.clients} connections, {args.seconds:.0f}s x {args.repeats}"
        )
        print(f"{'variant':<20} {'min':>8} {'median':>8} {'max':>8} {'vs without':>11}")
        for variant, values in results.items():
            median = statistics.median(values)
            print(
                f"{variant:<20} {min(values):>8.0f} {median:>8.0f} {max(values):>8.0f} "
                f"{(median - base) / base:>+10.1%}"
            )
        costs = [asyncio.run(in_process_cost(url)) for _ in range(args.repeats)]
        verify = sorted(v for v, _ in costs)
        added = sorted(a for _, a in costs)
        print(
            f"\nin process, CPU per request (min/median/max of {args.repeats}): "
            f"verifying the JWT {verify[0]:.1f}/{statistics.median(verify):.1f}/{verify[-1]:.1f} us; "
            f"the session check adds {added[0]:.2f}/{statistics.median(added):.2f}/"
            f"{added[-1]:.2f} us"
        )
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
