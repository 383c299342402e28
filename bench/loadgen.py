"""A small HTTP/1.1 load generator: keep-alive connections on raw asyncio streams.

It runs in its own process (``run_in_process``) so that it never shares an event loop with what it
measures, and ``calibrate`` shows its own ceiling against a trivial endpoint.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Request = tuple[str, str, dict[str, str], bytes | None]


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.writer.write(head + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            payload = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                payload += await self.reader.readexactly(size + 2)
                payload = payload[:-2]
            return status, payload
        return status, await self.reader.readexactly(length) if length else b""


Operation = Callable[[Connection, random.Random, int], Awaitable[list[tuple[int, float]]]]


@dataclass
class Result:
    name: str
    seconds: float
    operations: int = 0
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)  # per operation

    def row(self) -> dict[str, Any]:
        q = (
            statistics.quantiles(self.latencies_ms, n=100)
            if len(self.latencies_ms) > 2
            else [0.0] * 99
        )
        return {
            "name": self.name,
            "ops_per_s": self.operations / self.seconds,
            "req_per_s": self.requests / self.seconds,
            "p50_ms": q[49],
            "p95_ms": q[94],
            "p99_ms": q[98],
            "errors": self.errors,
            "statuses": dict(sorted(self.statuses.items())),
            "operations": self.operations,
        }


async def drive(
    host: str,
    port: int,
    operation: Operation,
    *,
    name: str,
    connections: int,
    seconds: float,
    rate: float | None = None,
    ok: Callable[[int], bool] = lambda s: s < 400,
) -> Result:
    """Closed loop (each connection as fast as it can), or open loop at ``rate`` operations/s."""
    result = Result(name, seconds)
    deadline = time.perf_counter() + seconds
    interval = connections / rate if rate else 0.0

    async def client(index: int) -> None:
        rng = random.Random(index)
        conn = Connection(host, port)
        next_start = time.perf_counter() + (interval * index / connections if rate else 0.0)
        counter = 0
        while time.perf_counter() < deadline:
            if rate:
                delay = next_start - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_start += interval
            started = time.perf_counter()
            try:
                calls = await operation(conn, rng, index * 10_000_000 + counter)
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                result.errors += 1
                conn = Connection(host, port)
                continue
            counter += 1
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.operations += 1
            for status, _ in calls:
                result.requests += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if not ok(status):
                    result.errors += 1

    await asyncio.gather(*(client(i) for i in range(connections)))
    return result


def _child(
    queue: Any, factory: Callable[..., Operation], kwargs: dict[str, Any], args: dict[str, Any]
) -> None:
    operation = factory(**args)
    result = asyncio.run(drive(operation=operation, **kwargs))
    queue.put(json.dumps(result.row()))


def run_in_process(
    factory: Callable[..., Operation], factory_args: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """Run ``drive`` in a separate process (spawned, so it shares nothing with the caller)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, factory, kwargs, factory_args))
    process.start()
    row: dict[str, Any] = json.loads(queue.get(timeout=kwargs["seconds"] + 120))
    process.join(timeout=30)
    return row
