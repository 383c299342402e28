"""Helpers for tests that run real processes: free ports, and waiting for a server to be live."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_live(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Until ``GET /health/live`` answers; fail with the server's log if it dies or never does."""
    async with httpx.AsyncClient(base_url=base, timeout=1) as http:
        for _ in range(300):
            if process.returncode is not None:
                break
            try:
                if (await http.get("/health/live")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server did not come up:\n{log.read_text()[-3000:]}")
