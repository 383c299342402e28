"""TCP proxies that count what crosses the wire between the service and a real server.

``PostgresProxy`` reads the PostgreSQL protocol's framing: every ReadyForQuery the server sends
ends one round trip, and a round trip commits when it ends outside a transaction after a COMMIT,
or after a data-modifying statement sent outside any transaction (autocommit). ``RedisProxy``
counts round trips as the client's bursts of commands between two answers (a pipeline is one),
leaving out pub/sub connections (a subscription's keep-alive is nobody's request).
Nothing is mocked: both relay every byte to the real server and back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from dataclasses import dataclass, field

_WRITES = re.compile(rb"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass
class Counts:
    round_trips: int = 0
    commits: int = 0
    statements: list[str] = field(default_factory=list)


class _Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counts = Counts()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def reset(self) -> Counts:
        """Start counting afresh; returns what was counted so far."""
        counted, self.counts = self.counts, Counts()
        return counted

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        state = self._new_connection()
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, state, from_client=True)),
            asyncio.create_task(self._pump(up_reader, writer, state, from_client=False)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
                self._tasks.discard(pump)
            for w in (writer, up_writer):
                w.close()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        state: object,
        *,
        from_client: bool,
    ) -> None:
        while data := await source.read(65536):
            self._observe(state, data, from_client)
            sink.write(data)
            await sink.drain()

    def _new_connection(self) -> object:
        raise NotImplementedError

    def _observe(self, state: object, data: bytes, from_client: bool) -> None:
        raise NotImplementedError


@dataclass
class _PgConnection:
    client: bytearray = field(default_factory=bytearray)
    server: bytearray = field(default_factory=bytearray)
    started: bool = False
    #: The client asked for TLS: the server answers with one unframed byte, S or N.
    ssl_answer_due: bool = False
    in_transaction: bool = False
    #: Prepared statement name -> its text, and what the current round trip runs.
    statements: dict[bytes, bytes] = field(default_factory=dict)
    running: list[bytes] = field(default_factory=list)
    committed: bool = False


class PostgresProxy(_Proxy):
    def _new_connection(self) -> object:
        return _PgConnection()

    def _observe(self, state: object, data: bytes, from_client: bool) -> None:
        assert isinstance(state, _PgConnection)
        if from_client:
            state.client += data
            self._client_messages(state)
        else:
            state.server += data
            self._server_messages(state)

    def _client_messages(self, c: _PgConnection) -> None:
        buffer = c.client
        while True:
            if not c.started:  # SSLRequest / StartupMessage: no type byte
                if len(buffer) < 4:
                    return
                (length,) = struct.unpack("!I", buffer[:4])
                if len(buffer) < length:
                    return
                code = struct.unpack("!I", buffer[4:8])[0] if length >= 8 else 0
                del buffer[:length]
                if code == 80877103:  # SSLRequest
                    c.ssl_answer_due = True
                else:  # the real startup message
                    c.started = True
                continue
            if len(buffer) < 5:
                return
            kind, length = buffer[:1], struct.unpack("!I", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                return
            body = bytes(buffer[5 : 1 + length])
            del buffer[: 1 + length]
            if kind == b"P":  # Parse: name \0 query \0 ...
                name, _, rest = body.partition(b"\0")
                c.statements[name] = rest.partition(b"\0")[0]
            elif kind == b"B":  # Bind: portal \0 statement \0 ...
                _, _, rest = body.partition(b"\0")
                c.running.append(c.statements.get(rest.partition(b"\0")[0], b""))
            elif kind == b"Q":
                c.running.append(body.rstrip(b"\0"))

    def _server_messages(self, c: _PgConnection) -> None:
        buffer = c.server
        if c.ssl_answer_due and buffer:
            del buffer[:1]
            c.ssl_answer_due = False
        while len(buffer) >= 5:
            kind, length = buffer[:1], struct.unpack("!I", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                return
            body = bytes(buffer[5 : 1 + length])
            del buffer[: 1 + length]
            if kind == b"C" and body.rstrip(b"\0") == b"COMMIT":
                c.committed = True
            elif kind == b"Z":
                self._ready(c, body[:1])

    def _ready(self, c: _PgConnection, status: bytes) -> None:
        if not c.running and not c.committed:  # the ReadyForQuery after authentication
            return
        counts = self.counts
        counts.round_trips += 1
        counts.statements += [q.decode(errors="replace").strip()[:80] for q in c.running]
        autocommitted = not c.in_transaction and any(_WRITES.search(q) for q in c.running)
        if status == b"I" and (c.committed or autocommitted):
            counts.commits += 1
        c.in_transaction = status in (b"T", b"E")
        c.running.clear()
        c.committed = False


@dataclass
class _RedisConnection:
    client_turn: bool = False
    #: A pub/sub connection (its keep-alive PINGs are background traffic, not a request's).
    subscriber: bool = False


class RedisProxy(_Proxy):
    def _new_connection(self) -> object:
        return _RedisConnection()

    def _observe(self, state: object, data: bytes, from_client: bool) -> None:
        assert isinstance(state, _RedisConnection)
        if from_client and b"SUBSCRIBE" in data.upper():
            state.subscriber = True
        if from_client and not state.client_turn and not state.subscriber:
            self.counts.round_trips += 1
            self.counts.statements.append(data[:80].decode(errors="replace"))
        state.client_turn = from_client
