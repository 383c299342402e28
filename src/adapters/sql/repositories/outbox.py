"""The notification outbox in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    func,
    or_,
    select,
    update,
)

from adapters.sql import mappers
from adapters.sql.repositories.base import _Repository, outbox_t
from wallet_core.notifications import Notification

_OUTBOX_INSERT = outbox_t.insert()


class SqlOutboxRepository(_Repository):
    async def add_many(self, events: Sequence[Notification]) -> None:
        if events:
            await self._s.execute(_OUTBOX_INSERT, [mappers.outbox_to_row(e) for e in events])

    async def lock_undispatched(
        self, limit: int, stale_before: datetime, now: datetime
    ) -> list[Notification]:
        o = outbox_t.c
        stmt = (
            select(outbox_t)
            .where(
                o.sent_at.is_(None),
                or_(o.dispatched_at.is_(None), o.dispatched_at < stale_before),
                or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now),
            )
            .order_by(outbox_t.c.created_at, outbox_t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [mappers.outbox_from_row(r) for r in await self._s.execute(stmt)]

    async def mark_dispatched(self, event_ids: Sequence[UUID], at: datetime) -> None:
        if event_ids:
            await self._s.execute(
                update(outbox_t).where(outbox_t.c.id.in_(list(event_ids))).values(dispatched_at=at)
            )

    async def lock_for_delivery(self, event_id: UUID) -> Notification | None:
        stmt = select(outbox_t).where(outbox_t.c.id == event_id).with_for_update()
        row = (await self._s.execute(stmt)).first()
        return mappers.outbox_from_row(row) if row else None

    async def mark_sent(self, event_id: UUID, at: datetime, payload: Mapping[str, str]) -> None:
        await self._s.execute(
            update(outbox_t)
            .where(outbox_t.c.id == event_id)
            .values(
                sent_at=at,
                payload=dict(payload),
                dispatched_at=func.coalesce(outbox_t.c.dispatched_at, at),
            )
        )

    async def record_attempt(self, event_id: UUID, retry_at: datetime) -> None:
        await self._s.execute(
            update(outbox_t)
            .where(outbox_t.c.id == event_id)
            .values(attempts=outbox_t.c.attempts + 1, next_attempt_at=retry_at, dispatched_at=None)
        )
