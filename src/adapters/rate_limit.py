"""Rate limiting on the ``limits`` library's storage: fixed windows aligned to the clock, counted
with one atomic INCR-and-expire per request and scope, in Redis (shared by every API process) or
in process memory for the embedded default.

When Redis cannot be reached the limiter fails OPEN (requests pass, a warning is logged): a
cache outage must not take payments down, and the limits are abuse protection, not accounting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits.aio.storage import MemoryStorage, RedisStorage, Storage

log = structlog.get_logger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window ends

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_after)


class RateLimiter:
    def __init__(self, storage: Storage, *, namespace: str = "rl") -> None:
        self._storage = storage
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
        period = PERIODS[per]
        now = time.time()
        window = int(now // period)
        reset_after = math.ceil(period - now % period)
        key = f"{scope}/{identity}/{period}/{window}"
        try:
            count = await self._storage.incr(key, period + 1)
        except Exception as exc:
            log.warning("rate_limit.unavailable", scope=scope, error=str(exc))
            return Decision(True, amount, amount, reset_after)
        return Decision(count <= amount, amount, max(0, amount - count), reset_after)

    async def reset(self) -> None:
        await self._storage.reset()
