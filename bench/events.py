"""Events: webhook deliveries per second by one worker, and the live stream's commit-to-client
latency under transfer load.

    BENCH_REDIS_URL=redis://127.0.0.1:6379/4 uv run python bench/events.py [--deposits 1000]
        [--seconds 15] [--senders 8]

1. Seeds ``--deposits`` deposits (two events each) and a staff webhook endpoint for every event
   on a receiver in this process, then starts ONE ``wallet worker`` and times the deliveries as
   they arrive (each signed, over a fresh loopback HTTP connection or a kept-alive one).
2. Starts a real ``wallet serve`` (granian), opens ``GET /events/stream`` on it as a staff user,
   and runs ``--senders`` concurrent transfer creators in this process (another process than the
   server: the wake-up is PostgreSQL's NOTIFY) for ``--seconds``. The latency of an event is the
   time from the creating call's return (its commit has happened by then) to the frame's arrival
   on the stream; an event that arrives first counts as 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from adapters.sql.migrate import upgrade
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from receiver import Receiver
from run import REDIS, SECRET_KEY, admin, database
from servers import wallet_serve
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

PASSWORD = "bench passphrase 1"


def environment(url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS,
        "ENV": "test",
        "SECRET_KEY": SECRET_KEY,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8",
        "EMAIL_BACKEND": "memory",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "warning",
        "OUTBOX_POLL_SECONDS": "0.2",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        **extra,
    }


async def deliveries(url: str, deposits: int) -> str:
    container = build(load_settings(environment(url), env_file=None))
    core = container.core
    staff_user, _ = await core.auth.register(
        Registration("ops@e.test", "ops", PASSWORD, "+19979999999", is_staff=True)
    )
    staff = Actor(staff_user.id, True)
    wallets = [
        (
            await core.auth.register(
                Registration(f"e{i}@e.test", f"ev{i}", PASSWORD, f"+1998{i:07d}")
            )
        )[1]
        for i in range(20)
    ]
    receiver = Receiver()
    await receiver.start()
    await core.webhooks.create(staff, receiver.url, ["*"])
    for start in range(0, deposits, 100):
        await asyncio.gather(
            *(
                core.deposits.manual(staff, amount="1.00", wallet_id=wallets[i % 20].id)
                for i in range(start, min(start + 100, deposits))
            )
        )
    await container.close()
    expected = deposits * 2
    started = time.perf_counter()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints.cli", "worker",
        env={**os.environ, **environment(url)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await receiver.wait_for(1, timeout=120)
        first = time.perf_counter()
        await receiver.wait_for(expected, timeout=600)
        done = time.perf_counter()
    finally:
        worker.terminate()
        await worker.wait()
        await receiver.stop()
    distinct = len({r.headers["x-event-id"] for r in receiver.received})
    return (
        f"webhooks, one worker: {expected} events delivered, "
        f"{expected / (done - first):.0f} events/s steady (first to last), "
        f"{expected / (done - started):.0f} events/s from worker start; "
        f"distinct event ids {distinct}, duplicates {len(receiver.received) - distinct}"
    )


async def stream_latency(url: str, seconds: float, senders: int) -> str:
    container = build(load_settings(environment(url), env_file=None))
    core = container.core
    staff_user, _ = await core.auth.register(
        Registration("watch@e.test", "watcher", PASSWORD, "+19979999990", is_staff=True)
    )
    staff = Actor(staff_user.id, True)
    people = []
    for i in range(senders * 2):
        user, wallet = await core.auth.register(
            Registration(f"s{i}@e.test", f"sender{i}", PASSWORD, f"+1997{i:07d}")
        )
        await core.deposits.manual(staff, amount="100000.00", wallet_id=wallet.id)
        people.append(user)
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as workdir:
        env = environment(url)
        async with (
            wallet_serve(env, Path(workdir)) as server,
            httpx.AsyncClient(base_url=server.base, timeout=httpx.Timeout(30, read=None)) as http,
        ):
            token = (
                await http.post(
                    "/api/v1/auth/token", json={"username": "watcher", "password": PASSWORD}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            ready = asyncio.Event()

            async def read() -> None:
                async with http.stream("GET", "/api/v1/events/stream", headers=headers) as response:
                    async for line in response.aiter_lines():
                        ready.set()
                        if line.startswith("data: "):
                            event = json.loads(line[6:])
                            if event["type"] == "transaction.created":
                                arrived[event["data"]["transaction"]["id"]] = time.perf_counter()

            reader = asyncio.create_task(read())
            await ready.wait()
            deadline = time.perf_counter() + seconds

            async def send(i: int) -> None:
                me, them = people[2 * i], people[2 * i + 1]
                while time.perf_counter() < deadline:
                    made = await core.transfers.create_transfer(
                        Actor(me.id), amount="0.01", recipient=them.username
                    )
                    committed[str(made.id)] = time.perf_counter()  # type: ignore[union-attr]

            await asyncio.gather(*(send(i) for i in range(senders)))
            await asyncio.sleep(2)
            reader.cancel()
    await container.close()
    latencies = sorted(
        max(0.0, arrived[k] - v) * 1000 for k, v in committed.items() if k in arrived
    )
    missing = len(committed) - len(latencies)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"stream under load: {len(committed)} transfers in {seconds:.0f} s "
        f"({len(committed) / seconds:.0f}/s, {senders} senders), commit-to-client latency "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; missing {missing}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deposits", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    results = []
    for part in ("webhooks", "stream"):
        name = f"wallet_events_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        url = database(name)
        try:
            upgrade(url)
            if part == "webhooks":
                results.append(asyncio.run(deliveries(url, args.deposits)))
            else:
                results.append(asyncio.run(stream_latency(url, args.seconds, args.senders)))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
