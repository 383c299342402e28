"""Webhook endpoints, deliveries and the fan-out cursor in SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.records import (
    WebhookCursorRecord,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
)
from adapters.sql.session import Session
from wallet_core.events import EventType, Position
from wallet_core.queries import PageRequest
from wallet_core.webhooks import Delivery, DeliveryStatus, WebhookEndpoint

endpoints_t: Table = WebhookEndpointRecord.__table__  # type: ignore[assignment]
deliveries_t: Table = WebhookDeliveryRecord.__table__  # type: ignore[assignment]
cursor_t: Table = WebhookCursorRecord.__table__  # type: ignore[assignment]
CURSOR = "fan-out"
#: Due deliveries looked at per claim, per delivery wanted (the rest are other endpoints').
SCAN_FACTOR = 4


def _endpoint_row(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "user_id": e.user_id,
        "url": e.url,
        "event_types": list(e.event_types),
        "description": e.description,
        "is_active": e.is_active,
        "sealed_secret": e.sealed_secret,
        "sealed_previous_secret": e.sealed_previous_secret,
        "previous_secret_expires_at": e.previous_secret_expires_at,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }


def _endpoint(row: Any) -> WebhookEndpoint:
    m = row._mapping
    return WebhookEndpoint(
        id=m["id"],
        user_id=m["user_id"],
        url=m["url"],
        event_types=tuple(m["event_types"]),
        description=m["description"],
        is_active=m["is_active"],
        sealed_secret=bytes(m["sealed_secret"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        sealed_previous_secret=None
        if m["sealed_previous_secret"] is None
        else bytes(m["sealed_previous_secret"]),
        previous_secret_expires_at=m["previous_secret_expires_at"],
    )


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_id": d.event_id,
        "event_type": d.event_type.value,
        "status": d.status.value,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
        "event_created_at": d.event_created_at,
        "delivered_at": d.delivered_at,
    }


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        endpoint_id=m["endpoint_id"],
        event_id=m["event_id"],
        event_type=EventType(m["event_type"]),
        status=DeliveryStatus(m["status"]),
        created_at=m["created_at"],
        event_created_at=m["event_created_at"],
        next_attempt_at=m["next_attempt_at"],
        attempts=m["attempts"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        delivered_at=m["delivered_at"],
    )


class SqlWebhookRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _insert(self, table: Table) -> Any:
        if self._s.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._s.execute(endpoints_t.insert(), [_endpoint_row(endpoint)])

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        row = _endpoint_row(endpoint)
        await self._s.execute(
            update(endpoints_t).where(endpoints_t.c.id == endpoint.id).values(**row)
        )

    async def delete_endpoint(self, endpoint_id: UUID) -> None:
        await self._s.execute(delete(deliveries_t).where(deliveries_t.c.endpoint_id == endpoint_id))
        await self._s.execute(delete(endpoints_t).where(endpoints_t.c.id == endpoint_id))

    async def get_endpoint(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        row = (
            await self._s.execute(select(endpoints_t).where(endpoints_t.c.id == endpoint_id))
        ).first()
        return _endpoint(row) if row else None

    async def endpoints_of(self, user_id: UUID) -> list[WebhookEndpoint]:
        stmt = select(endpoints_t).where(endpoints_t.c.user_id == user_id)
        return [_endpoint(r) for r in await self._s.execute(stmt.order_by(endpoints_t.c.id))]

    async def active_endpoints(self) -> list[WebhookEndpoint]:
        stmt = select(endpoints_t).where(endpoints_t.c.is_active.is_(True))
        return [_endpoint(r) for r in await self._s.execute(stmt.order_by(endpoints_t.c.id))]

    async def lock_cursor(self) -> Position | None:
        await self._s.execute(
            self._insert(cursor_t)
            .values(name=CURSOR, xid=0, seq=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        stmt = select(cursor_t.c.xid, cursor_t.c.seq).where(cursor_t.c.name == CURSOR)
        row = (await self._s.execute(stmt.with_for_update())).one()
        return Position(row[0], row[1])

    async def save_cursor(self, position: Position) -> None:
        await self._s.execute(
            update(cursor_t)
            .where(cursor_t.c.name == CURSOR)
            .values(xid=position.xid, seq=position.seq)
        )

    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            stmt = self._insert(deliveries_t).on_conflict_do_nothing(
                index_elements=["endpoint_id", "event_id"]
            )
            await self._s.execute(stmt, [_delivery_row(d) for d in deliveries])

    async def claim_due(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        per_endpoint: int,
        busy: Iterable[UUID],
    ) -> list[Delivery]:
        c = deliveries_t.c
        stmt = select(deliveries_t).where(c.status == "pending", c.next_attempt_at <= now)
        skip = list(busy)
        if skip:
            stmt = stmt.where(c.endpoint_id.not_in(skip))
        stmt = stmt.order_by(c.next_attempt_at, c.id).limit(limit * SCAN_FACTOR)
        rows = [_delivery(r) for r in await self._s.execute(stmt.with_for_update(skip_locked=True))]
        taken: Counter[UUID] = Counter()
        chosen: list[Delivery] = []
        for delivery in rows:
            if len(chosen) < limit and taken[delivery.endpoint_id] < per_endpoint:
                taken[delivery.endpoint_id] += 1
                chosen.append(delivery)
        if chosen:
            await self._s.execute(
                update(deliveries_t)
                .where(c.id.in_([d.id for d in chosen]))
                .values(next_attempt_at=lease_until)
            )
        return [replace(d, next_attempt_at=lease_until) for d in chosen]

    async def get_delivery(self, delivery_id: UUID) -> Delivery | None:
        row = (
            await self._s.execute(select(deliveries_t).where(deliveries_t.c.id == delivery_id))
        ).first()
        return _delivery(row) if row else None

    async def save_delivery(self, delivery: Delivery) -> None:
        row = _delivery_row(delivery)
        await self._s.execute(
            update(deliveries_t).where(deliveries_t.c.id == delivery.id).values(**row)
        )

    def _of(self, endpoint_id: UUID, status: DeliveryStatus | None) -> Any:
        stmt = select(deliveries_t).where(deliveries_t.c.endpoint_id == endpoint_id)
        if status is not None:
            stmt = stmt.where(deliveries_t.c.status == status.value)
        return stmt

    async def deliveries_of(
        self, endpoint_id: UUID, status: DeliveryStatus | None, page: PageRequest
    ) -> list[Delivery]:
        stmt = self._of(endpoint_id, status)
        if page.cursor is not None:
            stmt = stmt.where(deliveries_t.c.id < page.cursor.id)
        stmt = stmt.order_by(deliveries_t.c.id.desc()).limit(page.page_size + 1)
        if not page.keyset and page.cursor is None and page.offset:
            stmt = stmt.offset(page.offset)
        return [_delivery(r) for r in await self._s.execute(stmt)]

    async def count_deliveries(self, endpoint_id: UUID, status: DeliveryStatus | None) -> int:
        counted = select(func.count()).select_from(self._of(endpoint_id, status).subquery())
        return int((await self._s.execute(counted)).scalar_one())

    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        old = select(deliveries_t.c.id).where(deliveries_t.c.created_at < before).limit(limit)
        ids = [r[0] for r in await self._s.execute(old)]
        if ids:
            await self._s.execute(delete(deliveries_t).where(deliveries_t.c.id.in_(ids)))
        return len(ids)
