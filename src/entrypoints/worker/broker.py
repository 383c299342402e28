"""The taskiq broker: Redis streams with consumer groups, so a message is acknowledged only
after its task ran, and a message held by a worker that died is claimed by another."""

from __future__ import annotations

from taskiq import AsyncBroker
from taskiq_redis import RedisStreamBroker

from entrypoints.settings import Settings

QUEUE = "wallet:tasks"
GROUP = "wallet-workers"
#: The stream is trimmed (approximately) to this many messages, so Redis does not keep every task
#: ever sent. A message trimmed before a worker ran it is not lost: each one only says "deliver
#: this notification", and the outbox sends a dispatched-but-unsent notification again once it is
#: stale (services/notifications.py).
STREAM_MAXLEN = 100_000


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
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
