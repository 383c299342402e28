"""The in-memory event repository: positions in the order units of work add them (they are
serialised, so that is commit order)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from wallet_core.events import Event, EventQuery, Position

if TYPE_CHECKING:
    from wallet_core.testing.overlay import Overlay


class MemoryEventRepository:
    def __init__(self, table: Overlay[UUID, Event], sequence: itertools.count[int]) -> None:
        self._t = table
        self._sequence = sequence

    async def add_many(self, events: Sequence[Event]) -> None:
        for event in events:
            self._t.put(event.id, replace(event, position=Position(0, next(self._sequence))))

    async def get(self, event_id: UUID) -> Event | None:
        return self._t.get(event_id)

    def _matching(self, query: EventQuery) -> list[Event]:
        rows = [e for e in self._t.values() if query.filter.matches(e)]
        return sorted(rows, key=lambda e: e.id, reverse=True)

    async def search(self, query: EventQuery) -> list[Event]:
        rows = self._matching(query)
        page = query.page
        if page.cursor is not None:
            last = page.cursor.id
            rows = [e for e in rows if e.id < last]
        elif not page.keyset:
            rows = rows[(page.page - 1) * page.page_size :]
        return rows[: page.page_size + 1]

    async def count(self, query: EventQuery) -> int:
        return len(self._matching(query))

    async def after(self, position: Position | None, limit: int) -> list[Event]:
        rows = [
            e
            for e in self._t.values()
            if e.position is not None and (position is None or e.position > position)
        ]
        return sorted(rows, key=lambda e: e.position or Position(0, 0))[:limit]

    async def last_position(self) -> Position | None:
        positions = [e.position for e in self._t.values() if e.position is not None]
        return max(positions, default=None)

    async def prune(self, before: datetime, limit: int) -> int:
        old = sorted((e for e in self._t.values() if e.created_at < before), key=lambda e: e.id)
        for event in old[:limit]:
            self._t.delete(event.id)
        return len(old[:limit])
