"""Redis connections with short timeouts: a slow or dead Redis must not stall the API."""

from __future__ import annotations

from redis.asyncio import Redis


def connect(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        retry_on_timeout=False,
    )
