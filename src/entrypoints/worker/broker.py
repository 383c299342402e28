"""The taskiq broker: Redis streams with consumer groups, so a message is acknowledged only
after its task ran, and a message held by a worker that died is claimed by another."""

from __future__ import annotations

from taskiq import AsyncBroker
from taskiq_redis import RedisStreamBroker

from entrypoints.settings import Settings

QUEUE = "wallet:tasks"
GROUP = "wallet-workers"


def make_broker(settings: Settings, *, reclaim_after_seconds: float = 60.0) -> AsyncBroker:
    if settings.redis_url is None:
        raise RuntimeError("the worker and the scheduler need REDIS_URL")
    return RedisStreamBroker(
        settings.redis_url,
        queue_name=QUEUE,
        consumer_group_name=GROUP,
        idle_timeout=int(reclaim_after_seconds * 1000),
        unacknowledged_lock_timeout=10,
        xread_block=1000,
    )
