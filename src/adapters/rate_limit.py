"""Rate limiting: fixed windows aligned to the clock, all of a request's windows counted in ONE
Redis command (a small script: INCR each window's counter, and give a new counter its expiry),
shared by every API process; or in process memory for the embedded default.

When Redis cannot be reached the limiter fails OPEN (requests pass, a warning is logged): a
cache outage must not take payments down, and the limits are abuse protection, not accounting.
Time comes from the Clock port, so tests move windows by hand instead of waiting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import structlog

from adapters.redis.client import RedisHealth
from wallet_core.ports import Clock

if TYPE_CHECKING:  # the embedded default never imports redis
    from redis.asyncio import Redis

log = structlog.get_logger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

#: KEYS: the windows' counters; ARGV: their times to live. Answers the counts, in order. One
#: command instead of a pipeline of 2 per window: less to pack, send and parse per request.
HIT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
    counts[i] = count
end
return counts
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One limit to count a request against: ``amount`` requests per ``per`` for ``identity``."""

    scope: str
    identity: str
    amount: int
    per: str


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window ends

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_after)


class RateLimiter(Protocol):
    async def hit(self, windows: Sequence[Window]) -> list[Decision]:
        """Count one request in each window and say, per window, whether it may pass."""
        ...


def _slot(window: Window, now: datetime, namespace: str) -> tuple[str, int, int]:
    """(the counter's key, its time to live, seconds until the window ends)."""
    period = PERIODS[window.per]
    moment = now.timestamp()
    index = int(moment // period)
    reset_after = math.ceil(period - moment % period)
    key = f"{namespace}:{window.scope}/{window.identity}/{period}/{index}"
    return key, period + 1, reset_after


def _decide(window: Window, count: int, reset_after: int) -> Decision:
    return Decision(
        count <= window.amount, window.amount, max(0, window.amount - count), reset_after
    )


class RedisRateLimiter:
    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        health: RedisHealth | None = None,
        *,
        namespace: str = "rl",
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._health = health or RedisHealth()
        self._namespace = namespace
        from redis.exceptions import RedisError

        self._unavailable = (RedisError, OSError)

    async def hit(self, windows: Sequence[Window]) -> list[Decision]:
        if not windows:
            return []
        now = self._clock.now()
        slots = [_slot(w, now, self._namespace) for w in windows]
        try:
            counts = await self._redis.eval(
                HIT_SCRIPT, len(slots), *(s[0] for s in slots), *(s[1] for s in slots)
            )
        except self._unavailable as exc:
            log.warning("rate_limit.unavailable", error=str(exc))
            self._health.failed()
            return [
                Decision(True, w.amount, w.amount, s[2])
                for w, s in zip(windows, slots, strict=True)
            ]
        return [
            _decide(w, int(count), s[2]) for w, s, count in zip(windows, slots, counts, strict=True)
        ]


class MemoryRateLimiter:
    """The embedded default's limiter: counters in this process (one process serves)."""

    def __init__(self, clock: Clock, *, namespace: str = "rl") -> None:
        self._clock = clock
        self._namespace = namespace
        self._counts: dict[str, tuple[int, float]] = {}

    async def hit(self, windows: Sequence[Window]) -> list[Decision]:
        now = self._clock.now()
        moment = now.timestamp()
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > moment}
        decisions = []
        for window in windows:
            key, ttl, reset_after = _slot(window, now, self._namespace)
            count, expires = self._counts.get(key, (0, moment + ttl))
            if expires <= moment:
                count, expires = 0, moment + ttl
            self._counts[key] = (count + 1, expires)
            decisions.append(_decide(window, count + 1, reset_after))
        return decisions
