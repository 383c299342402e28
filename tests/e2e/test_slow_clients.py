"""Slow and departing clients against a real ``wallet serve`` (docs/api.md "Errors": a client that
disconnects mid-request is never logged or counted as a 5xx but as 499; slow clients are cut off
by header and body read timeouts).

Raw sockets, because an HTTP client library would not send a short body or stop mid-header.
The server runs with 1-second timeouts (``HTTP_HEADER_TIMEOUT_SECONDS``,
``HTTP_BODY_TIMEOUT_SECONDS``); every wait below is bounded by far more than that.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from environment import app_environment
from servers import ServerProcess, eventually, metric_value, wallet_serve

REGISTER = "/api/v1/auth/register"
PAYSEND = "/api/v1/wallet/webhook/paysend"
REQUESTS = "wallet_http_requests_total"
SHORT_BODY = b'{"email":'  # 9 of the 1000 bytes announced


@pytest.fixture(scope="module")
async def server(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServerProcess]:
    env = app_environment(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HTTP_HEADER_TIMEOUT_SECONDS="1",
        HTTP_BODY_TIMEOUT_SECONDS="1",
        LOG_LEVEL="info",
        LOG_FORMAT="json",
    )
    async with wallet_serve(env, tmp_path_factory.mktemp("slow"), workers=2) as running:
        yield running


def head(port: int, path: str, length: int = 1000) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def port_of(server: ServerProcess) -> int:
    return int(server.base.rpartition(":")[2])


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded: 60 s)."""
    return await asyncio.wait_for(reader.read(), timeout=60)


def access_lines(server: ServerProcess, path: str) -> list[dict[str, Any]]:
    lines = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("path") == path:
                lines.append(entry)
    return lines


async def test_a_body_that_stops_coming_is_cut_off_with_408(server: ServerProcess) -> None:
    port = port_of(server)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
    for path, (_, writer) in zip([REGISTER] * 4 + [PAYSEND], connections, strict=True):
        writer.write(head(port, path) + SHORT_BODY)
        await writer.drain()
    answers = await asyncio.gather(*(until_closed(reader) for reader, _ in connections))
    for _, writer in connections:
        writer.close()

    for answer in answers:  # each got its answer, then the server closed the connection
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 408 Request Timeout", answer
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in headers.lower()
        assert json.loads(body)["code"] == "request_timeout"

    async def logged() -> bool:
        return len([e for e in access_lines(server, REGISTER) if e["status"] == 408]) >= 4

    await eventually(logged, "four 408 access lines")
    text = await server.metrics()
    assert metric_value(text, REQUESTS, route=REGISTER, status="408") == 4
    assert metric_value(text, REQUESTS, route=PAYSEND, status="408") == 1


async def test_a_client_that_leaves_mid_body_is_a_499_not_a_500(server: ServerProcess) -> None:
    port = port_of(server)
    for _ in range(5):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head(port, REGISTER) + SHORT_BODY)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def counted() -> bool:
        text = await server.metrics()
        return metric_value(text, REQUESTS, route=REGISTER, status="499") >= 5

    await eventually(counted, "five requests counted as 499")
    text = await server.metrics()
    assert metric_value(text, REQUESTS, route=REGISTER, status="499") == 5
    statuses = [entry["status"] for entry in access_lines(server, REGISTER)]
    assert statuses.count(499) == 5
    assert 500 not in statuses
    assert "request.crashed" not in server.log_text()


async def test_headers_that_stop_coming_are_cut_off(server: ServerProcess) -> None:
    port = port_of(server)
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
    for _, writer in connections:
        writer.write(f"POST {REGISTER} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        await writer.drain()
    answers = await asyncio.gather(*(until_closed(reader) for reader, _ in connections))
    for _, writer in connections:
        writer.close()
    assert answers == [b""] * 5  # closed by the server, nothing to answer


async def test_no_slow_or_departed_client_is_a_server_error(server: ServerProcess) -> None:
    """Runs last in this module: after all of the above, not one 5xx was logged or counted."""
    text = await server.metrics()
    for status in ("500", "502", "503", "504"):
        assert metric_value(text, REQUESTS, status=status) == 0
    assert metric_value(text, REQUESTS, route=REGISTER) >= 9
    entries = access_lines(server, REGISTER) + access_lines(server, PAYSEND)
    assert entries and all(e["status"] < 500 for e in entries)
