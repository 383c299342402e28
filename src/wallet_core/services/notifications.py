"""Draining the outbox: hand events to the queue, then deliver each email exactly once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

from wallet_core.notifications import OPENED_CODE, SEALED_CODE, SECRET_PAYLOAD_KEYS, Notification
from wallet_core.ports import MessageRenderer, Notifier, UnitOfWork
from wallet_core.services.context import Context

Enqueue = Callable[[UUID], Awaitable[None]]
MAX_BACKOFF_SECONDS = 300


class NotificationService:
    def __init__(self, ctx: Context, renderer: MessageRenderer, notifier: Notifier) -> None:
        self._ctx = ctx
        self._renderer = renderer
        self._notifier = notifier

    async def relay(
        self, enqueue: Enqueue, batch: int = 100, redeliver_after: timedelta = timedelta(minutes=10)
    ) -> int:
        """Hand unsent events to the queue. At-least-once: an event enqueued but not marked (a
        crash in between), or dispatched but never sent (a task lost with its worker), is
        enqueued again later, and delivery ignores duplicates."""

        async def work(uow: UnitOfWork) -> int:
            now = self._ctx.clock.now()
            events = await uow.outbox.lock_undispatched(batch, now - redeliver_after, now)
            for item in events:
                await enqueue(item.id)
            await uow.outbox.mark_dispatched([e.id for e in events], self._ctx.clock.now())
            return len(events)

        total = 0
        while True:
            moved = await self._ctx.storage.run(work)
            total += moved
            if moved < batch:
                return total

    async def deliver(self, event_id: UUID) -> bool:
        """Send one event's email unless it was sent already; True if this call sent it.

        The event row stays locked while sending, so two workers never send the same email; a
        send that fails rolls back and raises, leaving the event for a retry.
        """

        async def work(uow: UnitOfWork) -> bool:
            item = await uow.outbox.lock_for_delivery(event_id)
            if item is None or item.sent_at is not None:
                return False
            user = await uow.users.get(item.user_id)
            if user is None:
                await uow.outbox.mark_sent(event_id, self._ctx.clock.now(), {})
                return False
            await self._notifier.send(self._renderer.render(self._opened(item), user))
            scrubbed = {k: v for k, v in item.payload.items() if k not in SECRET_PAYLOAD_KEYS}
            await uow.outbox.mark_sent(event_id, self._ctx.clock.now(), scrubbed)
            return True

        try:
            return await self._ctx.storage.run(work)
        except Exception:
            await self._count_attempt(event_id)
            raise

    def _opened(self, item: Notification) -> Notification:
        """The notification with its sealed code opened, for rendering only."""
        sealed = item.payload.get(SEALED_CODE)
        if sealed is None:
            return item
        code = self._ctx.secret_box.open(bytes.fromhex(sealed)).decode()
        return replace(item, payload={**item.payload, OPENED_CODE: code})

    async def _count_attempt(self, event_id: UUID) -> None:
        """Back off exponentially (1 s, 2 s, 4 s... at most 5 min); never give up."""

        async def work(uow: UnitOfWork) -> None:
            item = await uow.outbox.lock_for_delivery(event_id)
            if item is None or item.sent_at is not None:
                return
            delay = timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2**item.attempts))
            await uow.outbox.record_attempt(event_id, self._ctx.clock.now() + delay)

        await self._ctx.storage.run(work)
