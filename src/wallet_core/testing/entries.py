"""The in-memory entry repository: the ledger's lines, and the statement reads over them
(scans; the SQL repository answers the same questions from an index)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from wallet_core.errors import AlreadyExists
from wallet_core.ledger import Column, Entry, Transaction
from wallet_core.queries import after_cursor, sort_rows
from wallet_core.statements import (
    IntervalTotals,
    Line,
    LineQuery,
    RunningBalance,
    line_of,
    line_sort_value,
    running_balance,
)

if TYPE_CHECKING:
    from wallet_core.testing.overlay import Overlay


class MemoryEntryRepository:
    def __init__(
        self, table: Overlay[UUID, Entry], transactions: Overlay[UUID, Transaction]
    ) -> None:
        self._t = table
        self._transfers = transactions

    async def add_many(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if self._t.get(entry.id) is not None:
                raise AlreadyExists("Entries are immutable.")
            self._t.put(entry.id, entry)

    async def totals(self) -> dict[UUID, dict[Column, int]]:
        totals: dict[UUID, dict[Column, int]] = {}
        for entry in self._t.values():
            per = totals.setdefault(entry.account_id, {})
            per[entry.column] = per.get(entry.column, 0) + entry.delta
        return totals

    async def running_balances(self) -> dict[UUID, RunningBalance]:
        per: dict[UUID, list[Entry]] = {}
        for entry in self._t.values():
            if entry.is_posted:
                per.setdefault(entry.account_id, []).append(entry)
        return {account_id: running_balance(entries) for account_id, entries in per.items()}

    def _posted(
        self, account_id: UUID, start: datetime | None, end: datetime | None
    ) -> list[Entry]:
        return [
            e
            for e in self._t.values()
            if e.account_id == account_id
            and e.is_posted
            and (start is None or e.posted_at >= start)
            and (end is None or e.posted_at < end)
        ]

    def _line(self, entry: Entry) -> Line:
        transaction = self._transfers.get(entry.transaction_id)
        assert transaction is not None
        return line_of(entry, transaction)

    async def lines(self, query: LineQuery) -> list[Line]:
        found = self._posted(query.account_id, query.posted_after, query.posted_before)
        rows = sort_rows(map(self._line, found), query.ordering, line_sort_value, lambda r: r.id)
        if query.page.cursor is not None:
            rows = after_cursor(
                rows, query.page.cursor, query.ordering, line_sort_value, lambda r: r.id
            )
        start = query.page.offset
        return rows[start : start + query.page.page_size + 1]

    async def count_lines(self, query: LineQuery) -> int:
        return len(self._posted(query.account_id, query.posted_after, query.posted_before))

    async def balance_at(self, account_id: UUID, at: datetime, *, inclusive: bool = True) -> int:
        before = [
            e
            for e in self._posted(account_id, None, None)
            if e.posted_at < at or (inclusive and e.posted_at == at)
        ]
        if not before:
            return 0
        last = max(before, key=lambda e: (e.posted_at, e.id.bytes))
        assert last.balance_after is not None
        return last.balance_after

    async def interval_totals(
        self, account_id: UUID, start: datetime, end: datetime
    ) -> IntervalTotals:
        found = self._posted(account_id, start, end)
        credits = sum(e.amount for e in found if e.amount > 0)
        debits = -sum(e.amount for e in found if e.amount < 0)
        return IntervalTotals(credits, debits, len(found))
