"""granian vs uvicorn for the same app: ``GET /health/live`` requests/s.

    uv run python bench/servers.py [--seconds 10] [--clients 32]

Both serve the embedded default (SQLite, no Redis) with one worker process; the load comes
from bench/loadgen.py in a separate process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenarios
from loadgen import run_in_process

SERVERS = {
    "granian": [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--no-access-log",
    ],
    "uvicorn": [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "--no-access-log",
        "--log-level",
        "warning",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    env = {
        **os.environ,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_ENABLED": "false",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/wallet.db",
    }
    subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    for name, command in SERVERS.items():
        port = 8097
        process = subprocess.Popen(
            [*command, "--port", str(port), "entrypoints.http.asgi:create"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
        )
        try:
            for _ in range(100):
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code
                        == 200
                    ):
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            row = run_in_process(
                scenarios.live,
                {},
                name=name,
                host="127.0.0.1",
                port=port,
                connections=args.clients,
                seconds=args.seconds,
            )
            print(
                f"{name:<8} {row['req_per_s']:>8.0f} req/s  p50 {row['p50_ms']:.1f} ms  "
                f"p99 {row['p99_ms']:.1f} ms  errors {row['errors']}"
            )
        finally:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
