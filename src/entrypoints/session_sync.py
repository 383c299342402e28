"""Keeps one API process's session marks current, in the background.

Two sources, either of which keeps the in-process map fresh (trusted for one second after its
last confirmation):

- the Redis feed, when there is Redis: marks arrive within milliseconds, and PING round trips on
  the subscription confirm the map four times a second, so a database outage does not make every
  request fall back to the database;
- the database poll: one indexed query for the marks changed since the previous poll. It runs
  whenever the map is about to go stale (no Redis, or Redis down: twice a second) and every few
  seconds regardless, to catch a publish that was lost while Redis stayed up for the others.

If both fail, the map goes stale and each request checks its user's mark in the database (see
``SessionService.confirm``): slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from wallet_core.ports import Clock
from wallet_core.services.sessions import SessionService

if TYPE_CHECKING:
    from adapters.redis.session_feed import RedisSessionFeed

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.25
#: Poll when the map has less than this left of its freshness.
POLL_MARGIN = timedelta(seconds=0.5)
#: Poll at least this often, even while the feed keeps the map fresh.
RECONCILE_SECONDS = 5.0
#: How long stop() waits for the cancelled loops before it leaves them behind.
STOP_SECONDS = 2.0


class SessionSync:
    def __init__(
        self,
        sessions: SessionService,
        clock: Clock,
        feed: RedisSessionFeed | None = None,
        *,
        tick_seconds: float = TICK_SECONDS,
        reconcile_seconds: float = RECONCILE_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._feed = feed
        self._tick = tick_seconds
        self._reconcile = reconcile_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._polling_fails = False

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Idempotent: a container shared by several apps syncs once."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._poll_forever(), name="session-poll"))
        if self._feed is not None:
            listen = self._feed.listen(self._sessions.marks, self._sessions.sync)
            self._tasks.append(asyncio.create_task(listen, name="session-feed"))

    async def stop(self) -> None:
        """Cancel both loops. The database poll is waited for (a cancelled query ends and its
        transaction with it, so no lock is left behind); the Redis feed only for a bounded time:
        a Redis client stuck closing a dead socket must not hold up the process's shutdown."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            poll, *feed = self._tasks
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            if feed:
                _, stuck = await asyncio.wait(feed, timeout=STOP_SECONDS)
                for task in stuck:
                    log.warning("sessions.stop_timed_out", task=task.get_name())
        self._tasks = []

    async def _poll_forever(self) -> None:
        last_poll = float("-inf")
        while True:
            due = time.monotonic() - last_poll >= self._reconcile
            lapsing = self._sessions.marks.fresh_for(self._clock.now()) < POLL_MARGIN
            if (due or lapsing) and await self._poll():
                last_poll = time.monotonic()
            await asyncio.sleep(self._tick)

    async def _poll(self) -> bool:
        try:
            await self._sessions.sync()
        except Exception as exc:
            if not self._polling_fails:
                log.warning("sessions.poll_failed", error=str(exc))
            self._polling_fails = True
            return False
        if self._polling_fails:
            log.info("sessions.poll_restored")
        self._polling_fails = False
        return True
