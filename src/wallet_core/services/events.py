"""Events for integrators: the list, one event, the live feed as an async iterator, and pruning.

The feed reads the events table (the truth) in commit order from a position, and between reads
waits on an :class:`EventSignal` (woken by this process's writes, or by the database's
notifications from any process), with a short poll as the fallback: so a consumer sees each event
once, in commit order, without a gap, whichever process wrote it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from wallet_core.errors import FieldError, NotFound, ValidationFailed
from wallet_core.events import Event, EventFilter, EventQuery, EventType, Position
from wallet_core.ports import UnitOfWork
from wallet_core.queries import Page, page_request, paginate
from wallet_core.services.context import Actor, Context

#: A read of the feed returns at most this many events (what one connection holds in memory).
FEED_BATCH = 100
#: How often the feed looks again when nothing woke it (a missed wake-up costs at most this).
FEED_POLL_SECONDS = 0.5
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class EventListParams:
    types: Sequence[str] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    transaction: UUID | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None


def parse_types(names: Sequence[str]) -> frozenset[EventType]:
    known = {t.value: t for t in EventType}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type {unknown[0]!r}; allowed: {', '.join(sorted(known))}",
            [FieldError("type", f"unknown event type {unknown[0]!r}")],
        )
    return frozenset(known[n] for n in names)


class EventService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def list(self, actor: Actor, params: EventListParams) -> Page[Event]:
        ordering = ()
        paging = page_request(
            page=params.page, page_size=params.page_size, cursor=params.cursor, ordering=ordering
        )
        query = EventQuery(
            EventFilter(
                viewer_id=None if actor.is_staff else actor.user_id,
                types=parse_types(params.types),
                created_after=params.created_after,
                created_before=params.created_before,
                transaction_id=params.transaction,
            ),
            paging,
        )

        async def work(uow: UnitOfWork) -> tuple[list[Event], int | None]:
            rows = await uow.events.search(query)
            count = None if paging.keyset else await uow.events.count(query)
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        return paginate(rows, paging, count, ordering, lambda e: ((), e.id))

    async def get(self, actor: Actor, event_id: UUID) -> Event:
        async def work(uow: UnitOfWork) -> Event | None:
            return await uow.events.get(event_id)

        event = await self._ctx.storage.run_read(work)
        if event is None or not event.visible_to(actor.user_id, actor.is_staff):
            raise NotFound("Event not found.")
        return event

    async def _after(self, position: Position | None) -> Sequence[Event]:
        async def work(uow: UnitOfWork) -> Sequence[Event]:
            return await uow.events.after(position, FEED_BATCH)

        return await self._ctx.storage.run_read(work)

    async def start(self, last_event_id: UUID | None) -> Position | None:
        """Where a feed begins: after ``last_event_id`` (from the oldest retained event when it
        is no longer known), else after the newest event committed so far."""

        async def work(uow: UnitOfWork) -> Position | None:
            if last_event_id is not None:
                known = await uow.events.get(last_event_id)
                return known.position if known else None
            return await uow.events.last_position()

        return await self._ctx.storage.run_read(work)

    async def feed(
        self,
        actor: Actor,
        position: Position | None,
        *,
        until: datetime | None = None,
        heartbeat_seconds: float | None = None,
    ) -> AsyncIterator[Event | None]:
        """The events ``actor`` may see, after ``position``, in commit order, as they commit;
        ends at ``until``. With ``heartbeat_seconds``, yields None after that long without an
        event (for keep-alives)."""
        clock = self._ctx.clock
        quiet_since = clock.now()
        signal = self._ctx.event_signal
        while until is None or clock.now() < until:
            seen = signal.generation
            rows = await self._after(position)
            for event in rows:
                position = event.position
                if event.visible_to(actor.user_id, actor.is_staff):
                    quiet_since = clock.now()
                    yield event
            if len(rows) == FEED_BATCH:
                continue
            now = clock.now()
            if heartbeat_seconds is not None and (now - quiet_since).total_seconds() >= (
                heartbeat_seconds
            ):
                quiet_since = now
                yield None
            timeout = FEED_POLL_SECONDS
            if until is not None:
                timeout = min(timeout, max(0.0, (until - now).total_seconds()))
            await signal.wait(timeout, since=seen)

    async def stream(
        self, actor: Actor, last_event_id: UUID | None = None, until: datetime | None = None
    ) -> AsyncIterator[Event]:
        """For library users: every event ``actor`` may see from now (or after
        ``last_event_id``), as an async iterator."""
        position = await self.start(last_event_id)
        async for event in self.feed(actor, position, until=until):
            if event is not None:
                yield event

    async def prune(self) -> int:
        """Delete events (and webhook deliveries) older than the retention period; how many
        events went."""
        before = self._ctx.clock.now() - self._ctx.policy.event_retention
        total = 0
        while True:

            async def work(uow: UnitOfWork) -> int:
                await uow.webhooks.prune_deliveries(before, PRUNE_BATCH)
                return await uow.events.prune(before, PRUNE_BATCH)

            pruned = await self._ctx.storage.run(work)
            total += pruned
            if pruned < PRUNE_BATCH:
                return total
