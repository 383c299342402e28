"""Start-up and command latency: how long until the service answers, how long each command takes.

    uv run python bench/startup.py [--runs 3] [--only serve|cli] [--json FILE] [--src DIR]

Measures, each ``--runs`` times (min / median / max, in seconds of wall-clock time):
  * ``wallet serve`` -> the first ``GET /health/ready`` 200, embedded (a fresh SQLite file in a
    fresh directory: the first start also migrates it) and on PostgreSQL + Redis;
  * each command as an operator types it, from spawn to exit, with the CPU time it used:
    ``wallet --help``, ``wallet audit --help``, ``wallet migrate`` (already at head),
    ``wallet audit`` on an empty database (SQLite and PostgreSQL), ``wallet expire``.

It runs the installed ``wallet`` script of this environment (what ``uv run wallet`` starts,
without uv's own start-up), from a scratch directory so no ``.env`` is read. PostgreSQL comes from
``BENCH_DATABASE_URL`` (default: the local server, a database of its own, dropped at the end);
Redis from ``BENCH_REDIS_URL``. ``--src`` puts another revision's ``src`` first on the path (e.g.
``git archive <rev> src | tar -x -C /tmp/old``), to compare against it with the same packages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WALLET = str(Path(sys.executable).with_name("wallet"))
BASE_ENV = {
    "ENV": "test",
    "SECRET_KEY": "startup-bench-secret-key-" + "x" * 32,
    "LOG_LEVEL": "warning",
    "EMAIL_BACKEND": "memory",
}


@dataclass
class Sample:
    wall: float
    cpu: float | None = None


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return {**env, **BASE_ENV, **extra}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(args: list[str], env: dict[str, str], cwd: Path) -> Sample:
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([WALLET, *args], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"wallet {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return Sample(wall, _children_cpu() - cpu)


def count_modules(args: list[str], env: dict[str, str], cwd: Path) -> int:
    """How many modules the command imports: a measure of its start-up work that, unlike the
    clock, does not move with the machine's load."""
    done = subprocess.run(
        [WALLET, *args],
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("import time:")) - 1


def time_serve(env: dict[str, str], cwd: Path) -> Sample:
    """From spawning ``wallet serve`` to its first ready answer (polled every 10 ms)."""
    port = _free_port()
    start = time.perf_counter()
    process = subprocess.Popen(
        [WALLET, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
            while time.perf_counter() - start < 120:
                if process.poll() is not None:
                    assert process.stderr is not None
                    raise SystemExit(f"wallet serve exited:\n{process.stderr.read().decode()}")
                try:
                    if http.get("/health/ready").status_code == 200:
                        return Sample(time.perf_counter() - start)
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
        raise SystemExit("wallet serve never became ready")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _create_database() -> str:
    name = f"wallet_startup_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(SERVER))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str) -> None:
    admin = await asyncpg.connect(_dsn(SERVER))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


def summarise(name: str, samples: list[Sample]) -> dict[str, object]:
    walls = [s.wall for s in samples]
    row: dict[str, object] = {
        "name": name,
        "min": min(walls),
        "median": statistics.median(walls),
        "max": max(walls),
    }
    cpus = [s.cpu for s in samples if s.cpu is not None]
    if cpus:
        row["cpu_median"] = statistics.median(cpus)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("serve", "cli"))
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--src", help="import the application from this directory instead")
    args = parser.parse_args()
    if args.src:
        BASE_ENV["PYTHONPATH"] = str(Path(args.src).resolve())
    scratch = Path(tempfile.mkdtemp(prefix="wallet-startup-"))
    postgres = asyncio.run(_create_database())
    rows: list[dict[str, object]] = []
    try:
        sqlite_url = f"sqlite+aiosqlite:///{scratch}/empty.db"
        lite = _environment(DATABASE_URL=sqlite_url)
        pg = _environment(DATABASE_URL=postgres)
        pg_redis = _environment(DATABASE_URL=postgres, REDIS_URL=REDIS)
        time_command(["migrate"], lite, scratch)
        time_command(["migrate"], pg, scratch)

        def measure(name: str, once: object, modules: object = None) -> None:
            samples = [once() for _ in range(args.runs)]  # type: ignore[operator]
            rows.append(summarise(name, samples))
            if modules is not None:
                rows[-1]["modules"] = modules()  # type: ignore[operator]
            print(_line(rows[-1]), flush=True)

        if args.only != "serve":
            commands = [
                ("wallet --help", ["--help"], lite),
                ("wallet audit --help", ["audit", "--help"], lite),
                ("wallet migrate (SQLite, at head)", ["migrate"], lite),
                ("wallet migrate (PostgreSQL, at head)", ["migrate"], pg),
                ("wallet audit (SQLite, empty)", ["audit"], lite),
                ("wallet audit (PostgreSQL, empty)", ["audit"], pg),
                ("wallet expire (PostgreSQL, empty)", ["expire"], pg),
            ]
            for name, command, env in commands:
                measure(
                    name,
                    lambda c=command, e=env: time_command(c, e, scratch),
                    lambda c=command, e=env: count_modules(c, e, scratch),
                )
        if args.only != "cli":

            def embedded() -> Sample:
                fresh = Path(tempfile.mkdtemp(dir=scratch))
                env = _environment(DATABASE_URL=f"sqlite+aiosqlite:///{fresh}/wallet.db")
                return time_serve(env, fresh)

            measure("serve -> ready (embedded, fresh SQLite)", embedded)
            measure("serve -> ready (embedded, existing SQLite)", lambda: time_serve(lite, scratch))
            measure("serve -> ready (PostgreSQL + Redis)", lambda: time_serve(pg_redis, scratch))
    finally:
        asyncio.run(_drop_database(postgres))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _line(row: dict[str, object]) -> str:
    cpu = f"  cpu {row['cpu_median']:.2f}" if "cpu_median" in row else ""
    cpu += f"  modules {row['modules']}" if "modules" in row else ""
    return (
        f"{row['name']:<42} min {row['min']:6.2f}  median {row['median']:6.2f}"
        f"  max {row['max']:6.2f}{cpu}"
    )


if __name__ == "__main__":
    main()
