"""In-process implementations of small ports, standard library only: the wall clock, UUIDv7
ids, a cache, a session feed with nobody to tell, and a notifier that keeps what it sends.

Real implementations, not fakes: the embedded service (one process, no Redis) and library
users of :func:`wallet_core.build_in_memory` run on them."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from wallet_core.ports import Clock, EmailMessage
from wallet_core.sessions import SessionMark


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Generator:
    """UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; monotonic per process."""

    def __init__(self) -> None:
        self._last = 0

    def new_id(self) -> UUID:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big") >> 6  # the 74 bits a UUIDv7 leaves free
        # Monotonic on (milliseconds, random bits) *before* the fixed version and variant bits
        # are inserted, so that inserting them cannot reorder two ids of one millisecond.
        value = max((ms << 74) | rand, self._last + 1)
        self._last = value
        ms, rand = value >> 74, value & ((1 << 74) - 1)
        return UUID(
            int=(ms << 80)
            | (0x7 << 76)  # version 7
            | ((rand >> 62) << 64)  # rand_a: 12 bits
            | (0x2 << 62)  # RFC 4122 variant
            | (rand & ((1 << 62) - 1))  # rand_b: 62 bits
        )


class LocalSessionFeed:
    """The session feed of a process without Redis: nobody to tell at once, so the other
    processes (if any) learn new marks from their database poll."""

    async def publish(self, mark: SessionMark) -> None:
        return None


class MemoryCache:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._data: dict[str, tuple[bytes, datetime | None]] = {}

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        now = self._clock.now()
        result: list[bytes | None] = []
        for key in keys:
            item = self._data.get(key)
            if item is not None and item[1] is not None and item[1] <= now:
                del self._data[key]
                item = None
            result.append(item[0] if item else None)
        return result

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        self._data[key] = (value, self._clock.now() + timedelta(seconds=ttl_seconds))
        return True

    async def incr(self, keys: Sequence[str]) -> bool:
        for key in keys:
            value, expires = self._data.get(key, (b"0", None))
            self._data[key] = (str(int(value) + 1).encode(), expires)
        return True


class MemoryNotifier:
    """Keeps every sent message, for tests and the embedded console-less mode."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
