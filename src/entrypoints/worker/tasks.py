"""The background tasks, registered on a broker for one process's container.

Tasks stay thin: each calls one use case. Email delivery failures are not retried by taskiq:
the outbox records the attempt and offers the event again after a backoff, so the schedule of
retries survives restarts of every process.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask

from entrypoints.bootstrap import Container

log = structlog.get_logger(__name__)

DAILY_AT = "17 3 * * *"  # idempotency cleanup, once a day


@dataclass
class Tasks:
    deliver_notification: AsyncTaskiqDecoratedTask[[str], Coroutine[Any, Any, bool]]
    expire_due: AsyncTaskiqDecoratedTask[[], Coroutine[Any, Any, int]]
    purge_idempotency: AsyncTaskiqDecoratedTask[[], Coroutine[Any, Any, int]]

    async def enqueue_delivery(self, event_id: UUID) -> None:
        await self.deliver_notification.kiq(str(event_id))


def register_tasks(
    broker: AsyncBroker,
    container: Callable[[], Container],
    *,
    expiry_interval_seconds: int = 60,
) -> Tasks:
    """Tasks for ``broker``; ``container`` gives the process's container when a task runs."""

    @broker.task(task_name="wallet.deliver_notification")
    async def deliver_notification(event_id: str) -> bool:
        try:
            return await container().core.notifications.deliver(UUID(event_id))
        except Exception as exc:
            log.warning("email.failed", event_id=event_id, error=str(exc))
            return False

    @broker.task(
        task_name="wallet.expire_due",
        schedule=[{"interval": expiry_interval_seconds, "schedule_id": "expire-due"}],
    )
    async def expire_due() -> int:
        expired = await container().core.expiry.expire_due()
        if expired:
            log.info("expiry.run", expired=expired)
        return expired

    @broker.task(
        task_name="wallet.purge_idempotency",
        schedule=[{"cron": DAILY_AT, "schedule_id": "purge-idempotency"}],
    )
    async def purge_idempotency() -> int:
        return await container().core.idempotency.purge_expired()

    return Tasks(deliver_notification, expire_due, purge_idempotency)


def holder() -> tuple[Callable[[], Container], Callable[[Container], None]]:
    """A late-bound container: tasks are registered before the process builds its container."""
    box: dict[str, Any] = {}

    def get() -> Container:
        container: Container = box["container"]
        return container

    def set_(value: Container) -> None:
        box["container"] = value

    return get, set_
