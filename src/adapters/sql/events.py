"""Events in SQL: the list, one event, the commit-order feed behind the live stream and the
webhook dispatcher, and pruning.

Commit order on PostgreSQL: each event's position is ``(xid, seq)``, the id of the transaction
that wrote it and the next value of ``events_seq``. Sequence values are handed out before commit,
so a reader that simply followed ``seq`` could pass a row whose transaction commits later with a
smaller value, and never see it. The feed instead returns only rows whose transaction is older
than the oldest transaction still running (``pg_snapshot_xmin``): every transaction that can still
commit has a larger ``xid`` than any row returned, so continuing after the last row returned
skips nothing. A long-running writing transaction holds the feed back until it ends (never
loses anything).

On SQLite, one writer at a time: ``seq`` is the next number in the writing transaction, which is
commit order already, and ``xid`` is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, func, insert, or_, select, text, tuple_

from adapters.sql.records import EventRecord, EventViewerRecord
from adapters.sql.session import Session
from wallet_core.events import Event, EventQuery, EventType, Position

#: The channel committed events are announced on (the money path's statement uses it too).
CHANNEL = "wallet_events"

events_t: Table = EventRecord.__table__  # type: ignore[assignment]
viewers_t: Table = EventViewerRecord.__table__  # type: ignore[assignment]

_PG_XID = text("pg_current_xact_id()::text::bigint")
_PG_SEQ = text("nextval('events_seq')")
_PG_HORIZON = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


def event_from_row(row: Any, user_ids: Sequence[UUID] = ()) -> Event:
    m = row._mapping
    return Event(
        id=m["id"],
        type=EventType(m["type"]),
        created_at=m["created_at"],
        data=dict(m["data"]),
        user_ids=tuple(user_ids),
        transaction_id=m["transaction_id"],
        wallet_id=m["wallet_id"],
        position=Position(m["xid"], m["seq"]),
    )


class SqlEventRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @property
    def _pg(self) -> bool:
        return self._s.dialect == "postgresql"

    async def add_many(self, events: Sequence[Event]) -> None:
        for event in events:
            if self._pg:
                xid: Any = _PG_XID
                seq: Any = _PG_SEQ
            else:
                xid = 0
                seq = select(func.coalesce(func.max(events_t.c.seq), 0) + 1).scalar_subquery()
            await self._s.execute(
                insert(events_t).values(
                    id=event.id,
                    type=event.type.value,
                    created_at=event.created_at,
                    data=dict(event.data),
                    transaction_id=event.transaction_id,
                    wallet_id=event.wallet_id,
                    xid=xid,
                    seq=seq,
                )
            )
        viewers = [{"user_id": u, "event_id": e.id} for e in events for u in e.user_ids]
        if viewers:
            await self._s.execute(insert(viewers_t), viewers)
        if events and self._pg:  # wakes every process's live streams once this commits
            await self._s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    async def _with_viewers(self, rows: Sequence[Any]) -> list[Event]:
        ids = [r._mapping["id"] for r in rows]
        seen: dict[UUID, list[UUID]] = {i: [] for i in ids}
        if ids:
            stmt = select(viewers_t.c.event_id, viewers_t.c.user_id).where(
                viewers_t.c.event_id.in_(ids)
            )
            for event_id, user_id in await self._s.execute(stmt):
                seen[event_id].append(user_id)
        return [event_from_row(r, sorted(seen[r._mapping["id"]])) for r in rows]

    async def get(self, event_id: UUID) -> Event | None:
        rows = list(await self._s.execute(select(events_t).where(events_t.c.id == event_id)))
        found = await self._with_viewers(rows)
        return found[0] if found else None

    def _filtered(self, query: EventQuery) -> Any:
        f = query.filter
        c = events_t.c
        if f.viewer_id is None:
            stmt = select(events_t)
            key = c.id
        else:
            # The viewer's (user_id, event_id) primary key walks the newest ids first.
            stmt = select(events_t).join(viewers_t, viewers_t.c.event_id == c.id)
            stmt = stmt.where(viewers_t.c.user_id == f.viewer_id)
            key = viewers_t.c.event_id
        if f.types:
            stmt = stmt.where(c.type.in_(sorted(t.value for t in f.types)))
        if f.created_after is not None:
            stmt = stmt.where(c.created_at >= f.created_after)
        if f.created_before is not None:
            stmt = stmt.where(c.created_at <= f.created_before)
        if f.transaction_id is not None:
            stmt = stmt.where(c.transaction_id == f.transaction_id)
        return stmt, key

    async def search(self, query: EventQuery) -> list[Event]:
        stmt, key = self._filtered(query)
        page = query.page
        if page.cursor is not None:
            stmt = stmt.where(key < page.cursor.id)
        stmt = stmt.order_by(key.desc()).limit(page.page_size + 1)
        if not page.keyset and page.cursor is None:
            stmt = stmt.offset(page.offset)
        return await self._with_viewers(list(await self._s.execute(stmt)))

    async def count(self, query: EventQuery) -> int:
        stmt, _ = self._filtered(query)
        counted = select(func.count()).select_from(stmt.subquery())
        return int((await self._s.execute(counted)).scalar_one())

    async def after(self, position: Position | None, limit: int) -> list[Event]:
        c = events_t.c
        stmt = select(events_t)
        if position is not None:
            stmt = stmt.where(
                or_(c.xid > position.xid, (c.xid == position.xid) & (c.seq > position.seq))
                if not self._pg
                else tuple_(c.xid, c.seq) > tuple_(position.xid, position.seq)
            )
        if self._pg:
            stmt = stmt.where(c.xid < _PG_HORIZON)
        stmt = stmt.order_by(c.xid, c.seq).limit(limit)
        return await self._with_viewers(list(await self._s.execute(stmt)))

    async def last_position(self) -> Position | None:
        c = events_t.c
        stmt = select(c.xid, c.seq)
        if self._pg:
            stmt = stmt.where(c.xid < _PG_HORIZON)
        row = (await self._s.execute(stmt.order_by(c.xid.desc(), c.seq.desc()).limit(1))).first()
        return Position(row[0], row[1]) if row else None

    async def prune(self, before: datetime, limit: int) -> int:
        old = select(events_t.c.id).where(events_t.c.created_at < before).limit(limit)
        ids = [r[0] for r in await self._s.execute(old)]
        if not ids:
            return 0
        await self._s.execute(delete(viewers_t).where(viewers_t.c.event_id.in_(ids)))
        await self._s.execute(delete(events_t).where(events_t.c.id.in_(ids)))
        return len(ids)
