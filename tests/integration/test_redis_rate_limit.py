"""The Redis rate limiter on a real Redis: all of a request's windows counted by one script call,
each counter expiring with its window (set once, on the first hit, never pushed back), and the
windows of the same request counted independently."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from adapters.rate_limit import RedisRateLimiter, Window
from wallet_core.testing.fakes import ManualClock

URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(URL)
    yield client
    await client.aclose()


async def test_counts_and_expiries_of_each_window(redis: Redis) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))
    namespace = f"rl-test-{uuid.uuid4().hex[:8]}"
    limiter = RedisRateLimiter(redis, clock, namespace=namespace)
    windows = [Window("user", "alice", 3, "minute"), Window("wallet", "alice", 100, "day")]

    first = await limiter.hit(windows)
    assert [(d.allowed, d.remaining) for d in first] == [(True, 2), (True, 99)]
    assert [d.reset_after for d in first] == [50, 86400 - 12 * 3600 - 10]
    keys = sorted(k.decode() for k in await redis.keys(f"{namespace}:*"))
    assert len(keys) == 2
    ttls = {k: await redis.ttl(k) for k in keys}
    minute = next(k for k in keys if "/60/" in k)
    day = next(k for k in keys if "/86400/" in k)
    assert 59 <= ttls[minute] <= 61 and 86399 <= ttls[day] <= 86401

    await redis.expire(minute, 30)  # a later hit must not push the expiry back
    clock.advance(timedelta(seconds=5))
    for expected in (1, 0):
        (user, wallet) = await limiter.hit(windows)
        assert (user.allowed, user.remaining) == (True, expected)
    assert 0 < await redis.ttl(minute) <= 30
    (refused, wallet) = await limiter.hit(windows)
    assert not refused.allowed and refused.remaining == 0 and wallet.remaining == 96

    clock.advance(timedelta(minutes=1))  # a new minute: a new counter; the day goes on
    (user, wallet) = await limiter.hit(windows)
    assert (user.allowed, user.remaining, wallet.remaining) == (True, 2, 95)
    await redis.delete(*[k for k in await redis.keys(f"{namespace}:*")])


async def test_no_windows_send_nothing(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, ManualClock(), namespace="rl-none")
    assert await limiter.hit([]) == []
