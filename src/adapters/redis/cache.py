"""``RedisCache``: the core's best-effort Cache port on Redis.

Every operation swallows Redis failures (a miss is always a safe answer) and a short circuit
breaker skips Redis for a moment after a failure, so an outage costs requests nothing but the
cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.redis.client import RedisHealth

log = structlog.get_logger(__name__)


#: INCR every key in one command (a pipeline costs a client-side object and a reply per key).
INCR_SCRIPT = "for _, key in ipairs(KEYS) do redis.call('INCR', key) end return #KEYS"


class RedisCache:
    def __init__(
        self, redis: Redis, health: RedisHealth | None = None, *, cooldown_seconds: float = 2.0
    ) -> None:
        self._redis = redis
        self._health = health or RedisHealth()
        self._seen = self._health.failures
        self._cooldown = cooldown_seconds
        self._down_until = 0.0

    def _available(self) -> bool:
        if self._health.failures != self._seen:  # another user of the pool saw Redis fail
            self._seen = self._health.failures
            self._down_until = time.monotonic() + self._cooldown
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, error: Exception) -> None:
        if self._available():
            log.warning("cache.unavailable", operation=operation, error=str(error))
        self._health.failed()
        self._seen = self._health.failures
        self._down_until = time.monotonic() + self._cooldown

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        if not self._available():
            return None
        try:
            values = await self._redis.mget(list(keys))
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        return [v if isinstance(v, bytes) else None for v in values]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        if not self._available():
            return False
        try:
            await self._redis.set(key, value, ex=ttl_seconds)
        except (RedisError, OSError) as exc:
            self._failed("set", exc)
            return False
        return True

    async def incr(self, keys: Sequence[str]) -> bool:
        if not self._available():
            return False
        try:
            await self._redis.eval(INCR_SCRIPT, len(keys), *keys)
        except (RedisError, OSError) as exc:
            self._failed("incr", exc)
            return False
        return True
