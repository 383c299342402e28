"""The Redis session feed on a real Redis: a mark published by one process reaches another's map;
the listener catches up from the database after subscribing and only then vouches for its map
(PING round trips); anything malformed on the channel is ignored."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from adapters.redis.client import connect
from adapters.redis.session_feed import RedisSessionFeed, decode, encode
from wallet_core.local import SystemClock
from wallet_core.sessions import SessionMark, SessionMarks

RETENTION = timedelta(minutes=32)


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    first, second = connect(redis_url), connect(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


async def until(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_marks_survive_the_wire_and_garbage_does_not_parse() -> None:
    mark = SessionMark(uuid.uuid4(), 7, datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    assert decode(encode(mark)) == mark
    for garbage in (b"", b"x", b"not-a-uuid 1 2026-01-01T00:00:00+00:00", f"{mark.user_id} -1 x"):
        assert decode(garbage) is None
    assert decode(f"{mark.user_id} 2 yesterday".encode()) is None
    assert decode(None) is None


async def test_a_published_mark_reaches_another_process(clients: tuple[Redis, Redis]) -> None:
    publisher_redis, listener_redis = clients
    clock = SystemClock()
    publisher = RedisSessionFeed(publisher_redis, clock)
    listener = RedisSessionFeed(listener_redis, clock)
    assert publisher.channel == listener.channel
    marks = SessionMarks(retention=RETENTION)
    catch_ups: list[bool] = []

    async def catch_up() -> None:
        catch_ups.append(marks.is_fresh(clock.now()))

    task = asyncio.create_task(listener.listen(marks, catch_up))
    try:
        await until(lambda: marks.is_fresh(clock.now()))
        assert catch_ups == [False], "caught up once, before the map was trusted"
        await publisher_redis.publish(listener.channel, b"garbage that is ignored")
        mark = SessionMark(uuid.uuid4(), 3, clock.now())
        await publisher.publish(mark)
        await until(lambda: marks.generation_of(mark.user_id) == 3, seconds=1.0)
        assert marks.is_revoked(mark.user_id, 2)
        await asyncio.sleep(0.6)  # pongs keep confirming: fresh well past one ping
        assert marks.is_fresh(clock.now())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_listener_that_cannot_catch_up_never_vouches_for_its_map(
    clients: tuple[Redis, Redis],
) -> None:
    """The database is down: subscribed or not, the map stays untrusted."""
    _, listener_redis = clients
    clock = SystemClock()
    marks = SessionMarks(retention=RETENTION)
    attempts = 0

    async def failing_catch_up() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("database down")

    feed = RedisSessionFeed(listener_redis, clock)
    task = asyncio.create_task(feed.listen(marks, failing_catch_up))
    try:
        await until(lambda: attempts >= 3)
        assert not marks.is_fresh(clock.now())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
