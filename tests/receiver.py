"""A real HTTP receiver for outgoing webhooks, in the test process, on loopback: it records each
request and answers as told (a status, a redirect, or never), and can stop listening (connections
refused) and come back on the same port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from servers import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    #: What to answer next: a status code, "hang" (never answer), or a callable of the request.
    answers: list[int | str] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    hanging: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    on_request: Callable[[Received], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is not None:
            self._server.close()
            self._release.set()
            for writer in list(self._writers):  # kept-alive connections too
                writer.close()
            await self._server.wait_closed()
            self._server = None
            self._release = asyncio.Event()

    def release(self) -> None:
        """Let hanging requests go (they get no answer: the connection closes)."""
        self._release.set()

    async def wait_for(self, count: int, timeout: float = 30) -> None:
        async def wait() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body)
                self.received.append(request)
                self._arrived.set()
                answer = self.answers.pop(0) if self.answers else self.default
                if answer == "hang":
                    self.hanging += 1
                    await self._release.wait()
                    return
                status = int(answer)
                extra = "Location: https://elsewhere.example/\r\n" if 300 <= status < 400 else ""
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n{extra}\r\nok".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
