"""``RedisSessionFeed``: new session marks fanned out to every API process over Redis pub/sub.

``publish`` is the core's ``SessionFeed`` port. ``listen`` runs in each API process: it applies
every mark it receives to the process's ``SessionMarks`` and, to let the map be trusted without
the database, keeps proving the subscription is complete. A PING sent on the subscription at
instant T comes back after every message published before T, so its PONG confirms the map as of
T. After each (re)subscription it first catches up from the database (marks published while it
was not listening are not replayed by Redis), and only then starts confirming. When Redis goes
away the confirmations stop, the map goes stale within a second, and the database poll takes
over (see ``entrypoints/session_sync.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from wallet_core.ports import Clock
from wallet_core.sessions import SessionMark, SessionMarks

log = structlog.get_logger(__name__)

#: How often the subscription proves itself (well inside the map's one-second freshness).
PING_SECONDS = 0.25
#: Wait before resubscribing after Redis failed.
RETRY_SECONDS = 0.5
_MAX_PENDING_PINGS = 64


def channel_for(redis: Redis) -> str:
    """Pub/sub ignores the database index, so the channel name carries it: deployments sharing
    one Redis server on different indexes do not hear each other."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"wallet:{database}:session-marks"


def encode(mark: SessionMark) -> bytes:
    return f"{mark.user_id} {mark.generation} {mark.changed_at.isoformat()}".encode()


def decode(data: object) -> SessionMark | None:
    """The mark, or None for anything malformed (never trusted to be well-formed)."""
    if not isinstance(data, bytes | str):
        return None
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    parts = text.split(" ")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    try:
        changed_at = datetime.fromisoformat(parts[2])
        return SessionMark(UUID(parts[0]), int(parts[1]), changed_at)
    except ValueError:
        return None


class RedisSessionFeed:
    def __init__(self, redis: Redis, clock: Clock, *, ping_seconds: float = PING_SECONDS) -> None:
        self._redis = redis
        self._clock = clock
        self._ping_seconds = ping_seconds
        self.channel = channel_for(redis)
        self._healthy = True

    async def publish(self, mark: SessionMark) -> None:
        try:
            await self._redis.publish(self.channel, encode(mark))
        except (RedisError, OSError) as exc:
            # Committed already: the other processes' poll brings it to them instead.
            log.warning("sessions.publish_failed", user_id=str(mark.user_id), error=str(exc))

    async def listen(self, marks: SessionMarks, catch_up: Callable[[], Awaitable[object]]) -> None:
        """Forever: subscribe, catch up, apply and confirm; on any failure, start over."""
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._consume(pubsub, marks, catch_up)
            except (RedisError, OSError) as exc:
                if self._healthy:
                    log.warning("sessions.feed_lost", error=str(exc))
                self._healthy = False
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _consume(
        self,
        pubsub: PubSub,
        marks: SessionMarks,
        catch_up: Callable[[], Awaitable[object]],
    ) -> None:
        subscribed = caught_up = False
        pings: dict[bytes, datetime] = {}
        counter = itertools.count()
        next_ping = 0.0
        while True:
            message = await pubsub.get_message(timeout=self._ping_seconds)
            if message is not None:
                kind = message["type"]
                if kind == "subscribe":
                    # Also seen after a transparent reconnect: what was missed must be read again.
                    subscribed, caught_up = True, False
                    pings.clear()
                elif kind == "message":
                    mark = decode(message["data"])
                    if mark is not None:
                        marks.learn([mark])
                elif kind == "pong":
                    sent_at = pings.pop(bytes(message["data"] or b""), None)
                    if sent_at is not None and caught_up:
                        marks.confirm(sent_at)
            if subscribed and not caught_up:
                caught_up = await self._catch_up(catch_up)
                if not caught_up:
                    continue
            if caught_up and time.monotonic() >= next_ping:
                if len(pings) > _MAX_PENDING_PINGS:
                    pings.clear()
                token = f"sessions-{next(counter)}".encode()
                pings[token] = self._clock.now()
                await pubsub.ping(token)
                next_ping = time.monotonic() + self._ping_seconds

    async def _catch_up(self, catch_up: Callable[[], Awaitable[object]]) -> bool:
        try:
            await catch_up()
        except Exception as exc:
            log.warning("sessions.catch_up_failed", error=str(exc))
            await asyncio.sleep(self._ping_seconds)
            return False
        if not self._healthy:
            log.info("sessions.feed_restored")
        self._healthy = True
        return True
