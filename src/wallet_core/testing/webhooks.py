"""The in-memory webhook repository (endpoints, deliveries, the fan-out cursor)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from wallet_core.events import Position
from wallet_core.queries import PageRequest
from wallet_core.webhooks import Delivery, DeliveryStatus, WebhookEndpoint

if TYPE_CHECKING:
    from wallet_core.testing.overlay import Overlay

CURSOR = "fan-out"


class MemoryWebhookRepository:
    def __init__(
        self,
        endpoints: Overlay[UUID, WebhookEndpoint],
        deliveries: Overlay[UUID, Delivery],
        cursor: Overlay[str, Position],
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._cursor = cursor

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._endpoints.put(endpoint.id, endpoint)

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._endpoints.put(endpoint.id, endpoint)

    async def delete_endpoint(self, endpoint_id: UUID) -> None:
        self._endpoints.delete(endpoint_id)
        for delivery in list(self._deliveries.values()):
            if delivery.endpoint_id == endpoint_id:
                self._deliveries.delete(delivery.id)

    async def get_endpoint(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        return self._endpoints.get(endpoint_id)

    async def endpoints_of(self, user_id: UUID) -> list[WebhookEndpoint]:
        mine = [e for e in self._endpoints.values() if e.user_id == user_id]
        return sorted(mine, key=lambda e: e.id)

    async def active_endpoints(self) -> list[WebhookEndpoint]:
        return sorted((e for e in self._endpoints.values() if e.is_active), key=lambda e: e.id)

    async def lock_cursor(self) -> Position | None:
        return self._cursor.get(CURSOR) or Position(0, 0)

    async def save_cursor(self, position: Position) -> None:
        self._cursor.put(CURSOR, position)

    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        taken = {(d.endpoint_id, d.event_id) for d in self._deliveries.values()}
        for delivery in deliveries:
            if (delivery.endpoint_id, delivery.event_id) not in taken:
                self._deliveries.put(delivery.id, delivery)

    async def claim_due(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        per_endpoint: int,
        busy: Iterable[UUID],
    ) -> list[Delivery]:
        skip = set(busy)
        due = sorted(
            (
                d
                for d in self._deliveries.values()
                if d.status is DeliveryStatus.PENDING
                and d.next_attempt_at is not None
                and d.next_attempt_at <= now
                and d.endpoint_id not in skip
            ),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        taken: Counter[UUID] = Counter()
        claimed: list[Delivery] = []
        for delivery in due:
            if len(claimed) >= limit:
                break
            if taken[delivery.endpoint_id] >= per_endpoint:
                continue
            taken[delivery.endpoint_id] += 1
            leased = _leased(delivery, lease_until)
            self._deliveries.put(delivery.id, leased)
            claimed.append(leased)
        return claimed

    async def get_delivery(self, delivery_id: UUID) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    async def save_delivery(self, delivery: Delivery) -> None:
        if self._deliveries.get(delivery.id) is not None:
            self._deliveries.put(delivery.id, delivery)

    def _of(self, endpoint_id: UUID, status: DeliveryStatus | None) -> list[Delivery]:
        rows = [
            d
            for d in self._deliveries.values()
            if d.endpoint_id == endpoint_id and (status is None or d.status is status)
        ]
        return sorted(rows, key=lambda d: d.id, reverse=True)

    async def deliveries_of(
        self, endpoint_id: UUID, status: DeliveryStatus | None, page: PageRequest
    ) -> list[Delivery]:
        rows = self._of(endpoint_id, status)
        if page.cursor is not None:
            rows = [d for d in rows if d.id < page.cursor.id]
        elif not page.keyset:
            rows = rows[page.offset :]
        return rows[: page.page_size + 1]

    async def count_deliveries(self, endpoint_id: UUID, status: DeliveryStatus | None) -> int:
        return len(self._of(endpoint_id, status))

    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        old = [d for d in self._deliveries.values() if d.created_at < before][:limit]
        for delivery in old:
            self._deliveries.delete(delivery.id)
        return len(old)


def _leased(delivery: Delivery, until: datetime) -> Delivery:
    return replace(delivery, next_attempt_at=until)
