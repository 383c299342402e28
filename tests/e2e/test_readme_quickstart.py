"""The README's quick start, run as written: its first block starts ``wallet serve`` (port 8000, the
embedded default, development settings), the others run in one shell in the same directory."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from entrypoints.dev_secrets import DEV_SECRETS_FILE
from entrypoints.settings import KNOWN_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8000"


def quick_start_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def port_8000_is_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", 8000))
        except OSError:
            return False
        return True


def newcomer_environment() -> dict[str, str]:
    """A shell like a newcomer's: none of the service's variables set, so every default
    applies (ENV=development, SQLite in ./wallet.db, no Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in KNOWN_VARIABLES}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["UV_PROJECT"] = str(ROOT)  # `uv run` finds the project from the scratch directory
    return env


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Path]:
    """The first block, in its own process group, from an empty directory; yields its log.
    Asynchronous, like every test here that runs a real server, so the session's event loop
    (and the shared app's background tasks) keep running meanwhile."""
    for tool in ("uv", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the quick start needs {tool}")
    if not port_8000_is_free():
        pytest.skip("port 8000 is in use here; the quick start runs on it as written")
    first = quick_start_blocks()[0]
    assert first.strip() == "uv run wallet serve"
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            first,
            cwd=tmp_path,
            env=newcomer_environment(),
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        async with httpx.AsyncClient(base_url=BASE, timeout=1) as http:
            while time.monotonic() < deadline and process.returncode is None:
                try:
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            else:
                pytest.fail(f"wallet serve did not become ready:\n{log.read_text()[-3000:]}")
        yield log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def test_the_quick_start_runs_as_written(server: Path, tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + "\n".join(quick_start_blocks()[1:])
    shell = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=tmp_path,
        env=newcomer_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(shell.communicate(), 300)
    stdout, stderr = out.decode(), err.decode()
    assert shell.returncode == 0, f"{stdout}\n{stderr}\n{server.read_text()[-3000:]}"
    lines = stdout.strip().splitlines()
    # What the README says the last commands print.
    assert lines[-1] == "25.50"
    listed = [json.loads(line) for line in lines if line.startswith('{"type"')]
    assert listed == [
        {"type": "transfer", "status": "completed", "amount": "25.50"},
        {"type": "deposit", "status": "completed", "amount": "100.00"},
    ]
    assert "completed" in lines
    # Development only: the secrets came from a file made once, and the webhook one was shown.
    secrets = (tmp_path / DEV_SECRETS_FILE).read_text()
    assert (tmp_path / DEV_SECRETS_FILE).stat().st_mode & 0o777 == 0o600
    paysend = re.search(r"^PAYSEND_WEBHOOK_SECRETS=(\S+)$", secrets, re.MULTILINE)
    assert paysend is not None
    assert f"PAYSEND_WEBHOOK_SECRETS={paysend[1]}" in server.read_text()
