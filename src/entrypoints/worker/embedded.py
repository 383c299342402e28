"""The embedded default's background work, inside ``wallet serve`` when there is no Redis:
the outbox relay feeding an in-process delivery queue, outgoing webhooks, the expiry job and
the daily cleanup (idempotency receipts, events past their retention), on the same code paths
the taskiq worker and scheduler use."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import structlog

from wallet_core.core import WalletCore

log = structlog.get_logger(__name__)


async def _every(seconds: float, name: str, job: object) -> None:
    while True:
        try:
            await job()  # type: ignore[operator]
        except Exception:
            log.exception("job.failed", job=name)
        await asyncio.sleep(seconds)


class EmbeddedJobs:
    def __init__(
        self,
        core: WalletCore,
        *,
        outbox_poll_seconds: float = 1.0,
        expiry_interval_seconds: float = 60.0,
        cleanup_interval_seconds: float = 86400.0,
    ) -> None:
        self._core = core
        self._queue: asyncio.Queue[UUID] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._intervals = (outbox_poll_seconds, expiry_interval_seconds, cleanup_interval_seconds)

    async def _enqueue(self, event_id: UUID) -> None:
        self._queue.put_nowait(event_id)

    async def _relay(self) -> None:
        await self._core.ctx.list_cache.settle()
        await self._core.notifications.relay(self._enqueue)

    async def _expire(self) -> None:
        expired = await self._core.expiry.expire_due()
        if expired:
            log.info("expiry.run", expired=expired)

    async def _cleanup(self) -> None:
        await self._core.idempotency.purge_expired()
        await self._core.events.prune()

    async def _deliver_forever(self) -> None:
        while True:
            event_id = await self._queue.get()
            try:
                await self._core.notifications.deliver(event_id)
            except Exception as exc:
                log.warning("email.failed", event_id=str(event_id), error=str(exc))

    def start(self) -> None:
        poll, expiry, cleanup = self._intervals
        self._tasks = [
            asyncio.create_task(_every(poll, "outbox-relay", self._relay)),
            asyncio.create_task(_every(expiry, "expire-transfers", self._expire)),
            asyncio.create_task(_every(cleanup, "idempotency-cleanup", self._cleanup)),
            asyncio.create_task(self._deliver_forever()),
            asyncio.create_task(self._core.webhook_delivery.run(poll)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
