"""Rate limiting on the ``limits`` library: atomic moving windows in Redis (shared by every API
process) or in process memory for the embedded default.

When Redis cannot be reached the limiter fails OPEN (requests pass, a warning is logged): a
cache outage must not take payments down, and the limits are abuse protection, not accounting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import (
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
)
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.limits import RateLimitItem

log = structlog.get_logger(__name__)

_ITEMS: dict[str, type[RateLimitItem]] = {
    "second": RateLimitItemPerSecond,
    "minute": RateLimitItemPerMinute,
    "hour": RateLimitItemPerHour,
    "day": RateLimitItemPerDay,
}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window frees a request

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_after)


class RateLimiter:
    def __init__(self, storage: Storage, *, namespace: str = "rl") -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._namespace = namespace

    @classmethod
    def in_memory(cls) -> RateLimiter:
        return cls(MemoryStorage())

    @classmethod
    def redis(cls, url: str, *, namespace: str = "rl") -> RateLimiter:
        storage = RedisStorage(
            "async+" + url if not url.startswith("async+") else url,
            implementation="redispy",
            key_prefix=f"{namespace}-limits",
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        return cls(storage, namespace=namespace)

    async def hit(self, scope: str, identity: str, amount: int, per: str) -> Decision:
        """Count one request of ``identity`` in ``scope`` and say whether it may pass."""
        item = _ITEMS[per](amount)
        try:
            allowed = await self._strategy.hit(item, self._namespace, scope, identity)
            stats = await self._strategy.get_window_stats(item, self._namespace, scope, identity)
        except Exception as exc:
            log.warning("rate_limit.unavailable", scope=scope, error=str(exc))
            return Decision(True, amount, amount, item.get_expiry())
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, amount, max(0, stats.remaining), reset_after)

    async def reset(self) -> None:
        await self._storage.reset()

    async def close(self) -> None:
        return None
