"""Helpers for tests that run real processes: free ports, waiting for a server to be live, and
``wallet serve`` (granian) as a process of its own, its worker processes and its metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_live(
    base: str, process: asyncio.subprocess.Process, log: Path, timeout: float = 60.0
) -> None:
    """Until ``GET /health/live`` answers; fail with the server's log if it dies or never does."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=1) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            try:
                if (await http.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server did not come up:\n{log.read_text()[-3000:]}")


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0, every: float = 0.05
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` if it never does within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"never happened: {what}")


def child_pids(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc; zombies excluded)."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children |= {int(p) for p in (task / "children").read_text().split()}
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {child for child in children if is_running(child)}


def is_running(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@dataclass
class ServerProcess:
    base: str
    process: asyncio.subprocess.Process
    log: Path
    tmpdir: Path

    def worker_pids(self) -> set[int]:
        return child_pids(self.process.pid)

    def metrics_directory(self) -> Path:
        """The multiprocess directory the server made for its workers (one per start)."""
        (directory,) = self.tmpdir.glob("wallet-metrics-*")
        return directory

    def counts_by_process(self, sample: str, **labels: str) -> dict[int, float]:
        """What each worker process (alive or dead) wrote to the shared directory."""
        counts: dict[int, float] = {}
        for path in self.metrics_directory().glob("counter_*.db"):
            pid = int(path.stem.rpartition("_")[2])
            for family in MultiProcessCollector.merge([str(path)]):
                for found in family.samples:
                    if found.name == sample and all(
                        found.labels.get(k) == v for k, v in labels.items()
                    ):
                        counts[pid] = counts.get(pid, 0.0) + found.value
        return counts

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def metrics(self) -> str:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as http:
            response = await http.get("/metrics")
        assert response.status_code == 200, response.text
        return response.text


@asynccontextmanager
async def wallet_serve(
    env: dict[str, str], workdir: Path, *, workers: int = 1
) -> AsyncIterator[ServerProcess]:
    """``wallet serve --workers N`` on a free port with ``env`` (added to this process's), from
    ``workdir`` (no stray ``.env``); yields once it answers and all N workers run. Stopped with
    SIGTERM (SIGKILL after 15 s); its log is printed when the test failed."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    tmpdir = workdir / f"tmp-{port}"  # where the server makes its metrics directory
    tmpdir.mkdir()
    environment = {**os.environ, **env, "TMPDIR": str(tmpdir)}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers)),
            cwd=workdir,
            env=environment,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log, tmpdir)
    seen: set[int] = set()
    try:
        # Generous: on a busy machine each worker takes many seconds to import the app.
        await wait_live(server.base, process, log, timeout=180)

        async def all_workers() -> bool:
            started = server.log_text().count("Started worker-")
            return len(server.worker_pids()) == workers and started >= workers

        await eventually(all_workers, f"{workers} worker processes", timeout=180)
        yield server
    finally:
        seen |= server.worker_pids()
        if process.returncode is None:
            process.terminate()
            try:
                # The server kills a worker that does not stop within 30 s itself.
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()
        for pid in seen:  # never leave a worker of this server behind
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
        print(server.log_text()[-5000:])


def metric_value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named ``sample`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                total += found.value
    return total


def label_values(text: str, sample: str, label: str) -> set[str]:
    """Every value ``label`` takes on the samples named ``sample``."""
    return {
        found.labels[label]
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == sample and label in found.labels
    }
