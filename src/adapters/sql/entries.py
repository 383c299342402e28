"""The entry repository on SQL: the ledger's lines and the statement reads over them.

Every read of an account's posted lines walks ``ix_entries_account_posted`` (account, posted_at)
restricted to posted lines: the balance at an instant is the first row of a backward range scan
(an index-only lookup on PostgreSQL, which keeps ``balance_after`` in the index), whatever the
length of the history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, case, func, select

from adapters.sql import mappers
from adapters.sql.ordering import order_by, seek
from adapters.sql.records import EntryRecord, TransactionRecord, table_of
from adapters.sql.session import Session
from wallet_core.ledger import Column, Entry, TransactionType
from wallet_core.statements import IntervalTotals, Line, LineQuery, RunningBalance

entries_t = table_of(EntryRecord)
transactions_t = table_of(TransactionRecord)
_e = entries_t.c
_t = transactions_t.c

_INSERT = entries_t.insert()
_POSTED = _e.balance_after.is_not(None)
_SIGNED = case((_e.total == Column.CREDITS_POSTED.value, _e.delta), else_=-_e.delta)


def _last_balance(inclusive: bool) -> Select[Any]:
    at = bindparam("at", type_=_e.posted_at.type)
    before = _e.posted_at <= at if inclusive else _e.posted_at < at
    return (
        select(_e.balance_after)
        .where(_e.account_id == bindparam("account"), _POSTED, before)
        .order_by(_e.posted_at.desc())
        .limit(1)
    )


_BALANCE_AT = {True: _last_balance(True), False: _last_balance(False)}
_LINE_COLUMNS = (
    _e.id,
    _e.transaction_id,
    _e.balance_after,
    _e.posted_at,
    _SIGNED.label("amount"),
    _t.type,
    _t.reference,
    _t.description,
    _t.currency,
)


def _line(row: Any) -> Line:
    return Line(
        id=row.id,
        transaction_id=row.transaction_id,
        type=TransactionType(row.type),
        reference=row.reference,
        description=row.description,
        amount=int(row.amount),
        balance_after=int(row.balance_after),
        posted_at=row.posted_at,
        currency=row.currency,
    )


def _where(query: LineQuery) -> list[Any]:
    where = [_e.account_id == query.account_id, _POSTED]
    if query.posted_after is not None:
        where.append(_e.posted_at >= query.posted_after)
    if query.posted_before is not None:
        where.append(_e.posted_at < query.posted_before)
    return where


class SqlEntryRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def add_many(self, entries: Sequence[Entry]) -> None:
        if entries:
            await self._s.execute(_INSERT, [mappers.entry_to_row(e) for e in entries])

    async def totals(self) -> dict[UUID, dict[Column, int]]:
        stmt = select(_e.account_id, _e.total, func.sum(_e.delta)).group_by(_e.account_id, _e.total)
        totals: dict[UUID, dict[Column, int]] = {}
        for account_id, total, delta in await self._s.execute(stmt):
            totals.setdefault(account_id, {})[Column(total)] = int(delta)
        return totals

    async def running_balances(self) -> dict[UUID, RunningBalance]:
        ordered = (
            select(
                _e.account_id,
                _e.posted_at,
                _e.balance_after,
                func.sum(_SIGNED)
                .over(partition_by=_e.account_id, order_by=(_e.posted_at, _e.id))
                .label("running"),
                func.row_number()
                .over(partition_by=_e.account_id, order_by=(_e.posted_at.desc(), _e.id.desc()))
                .label("from_end"),
            )
            .where(_e.total.in_([Column.DEBITS_POSTED.value, Column.CREDITS_POSTED.value]))
            .subquery()
        )
        o = ordered.c
        wrong = case((o.balance_after.is_(None), 1), (o.balance_after != o.running, 1), else_=0)
        stmt = select(
            o.account_id,
            func.count(),
            func.sum(wrong),
            func.count() - func.count(o.posted_at.distinct()),
            func.max(case((o.from_end == 1, o.balance_after))),
        ).group_by(o.account_id)
        result = {}
        for account_id, lines, mismatched, repeated, last in await self._s.execute(stmt):
            last_value = None if last is None else int(last)
            result[account_id] = RunningBalance(
                int(lines), int(mismatched), int(repeated), last_value
            )
        return result

    async def lines(self, query: LineQuery) -> list[Line]:
        where = _where(query)
        sort = {"posted_at": _e.posted_at}
        if query.page.cursor is not None:
            where.append(seek(sort, _e.id, query.ordering, query.page.cursor))
        stmt = (
            select(*_LINE_COLUMNS)
            .select_from(entries_t.join(transactions_t, _t.id == _e.transaction_id))
            .where(*where)
            .order_by(*order_by(sort, _e.id, query.ordering))
            .limit(query.page.page_size + 1)
        )
        if query.page.offset:
            stmt = stmt.offset(query.page.offset)
        return [_line(r) for r in await self._s.execute(stmt)]

    async def count_lines(self, query: LineQuery) -> int:
        stmt = select(func.count()).select_from(entries_t).where(*_where(query))
        return int((await self._s.execute(stmt)).scalar_one())

    async def balance_at(self, account_id: UUID, at: datetime, *, inclusive: bool = True) -> int:
        params = {"account": account_id, "at": at}
        found = (await self._s.execute(_BALANCE_AT[inclusive], params)).scalar_one_or_none()
        return 0 if found is None else int(found)

    async def interval_totals(
        self, account_id: UUID, start: datetime, end: datetime
    ) -> IntervalTotals:
        stmt = select(
            func.coalesce(func.sum(case((_SIGNED > 0, _SIGNED), else_=0)), 0),
            func.coalesce(func.sum(case((_SIGNED < 0, -_SIGNED), else_=0)), 0),
            func.count(),
        ).where(_e.account_id == account_id, _POSTED, _e.posted_at >= start, _e.posted_at < end)
        credits, debits, count = (await self._s.execute(stmt)).one()
        return IntervalTotals(int(credits), int(debits), int(count))
