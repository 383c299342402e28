"""The live streams' wake-up on PostgreSQL: one ``LISTEN`` connection per process.

The money path's statement notifies ``wallet_events`` when it commits events (and the SQL
repository does the same for the writes it makes); this listener turns each notification into a
wake-up of the process's waiting feeds. The events table stays the truth: a notification only
says "look again", so a lost one (the connection dropped) costs the feeds' poll interval at most,
and a reconnect wakes them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from adapters.sql.events import CHANNEL as EVENTS_CHANNEL
from wallet_core.events import EventSignal

log = structlog.get_logger(__name__)

RECONNECT_SECONDS = 1.0
#: How often an idle listening connection is checked (a silent network loss shows up here).
PING_SECONDS = 15.0


async def _until_lost(conn: asyncpg.Connection) -> None:
    while not conn.is_closed():
        await asyncio.sleep(PING_SECONDS)
        await asyncio.wait_for(conn.fetchval("SELECT 1"), PING_SECONDS)


class PgEventListener:
    def __init__(self, dsn: str, signal: EventSignal) -> None:
        self._dsn = dsn
        self._signal = signal
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-listener")

    def _woken(self, *_: Any) -> None:
        self._signal.notify()

    async def _run(self) -> None:
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                await conn.add_listener(EVENTS_CHANNEL, self._woken)
                self._signal.notify()  # anything committed while we were not listening
                await _until_lost(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event_listener_lost", error=type(exc).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
