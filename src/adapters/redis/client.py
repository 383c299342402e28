"""Redis connections with short timeouts: a slow or dead Redis must not stall the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # redis is imported only by the processes that use it
    from redis.asyncio import Redis


def connect(url: str) -> Redis:
    from redis.asyncio import Redis

    return Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        retry_on_timeout=False,
    )


class RedisHealth:
    """Failures seen on this process's Redis connection pool, by any of its users (the list cache,
    the rate limiter). The cache counts any of them as its own: while Redis was unreachable for
    one user, an invalidation may have been missed, and the cache must learn of it."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self) -> None:
        self.failures += 1
