"""Statements of a wallet (owner or staff): its posted lines, its balance at an instant, the
summary of an interval, and the interval's lines as a stream (read in keyset chunks, so a
million lines never sit in memory and no connection is held while a slow client reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from wallet_core.errors import FieldError, NotFound, ValidationFailed
from wallet_core.ledger import Account
from wallet_core.ports import UnitOfWork
from wallet_core.queries import (
    Cursor,
    Ordering,
    Page,
    PageRequest,
    page_request,
    paginate,
    parse_ordering,
    sort_key_for,
)
from wallet_core.services.context import Actor, Context
from wallet_core.statements import (
    DEFAULT_LINE_ORDERING,
    LINE_ORDERINGS,
    BalanceAt,
    IntervalTotals,
    Line,
    LineQuery,
    Statement,
    line_sort_value,
)

#: Lines read per query while streaming an export.
EXPORT_CHUNK = 1000
_OLDEST_FIRST = (Ordering("posted_at"),)


@dataclass(frozen=True, slots=True)
class EntryListParams:
    posted_after: datetime | None = None
    posted_before: datetime | None = None
    ordering: str | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Export:
    """An interval's lines, oldest first, read lazily."""

    wallet: Account
    start: datetime
    end: datetime
    lines: AsyncIterator[Line]


class StatementService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def _wallet(self, actor: Actor, wallet_id: UUID) -> Account:
        async def work(uow: UnitOfWork) -> Account | None:
            return await uow.accounts.get(wallet_id)

        wallet = await self._ctx.storage.run_read(work)
        if wallet is None or not wallet.is_wallet:
            raise NotFound("Wallet not found.")
        if not actor.is_staff and wallet.owner_id != actor.user_id:
            raise NotFound("Wallet not found.")
        return wallet

    async def entries(self, actor: Actor, wallet_id: UUID, params: EntryListParams) -> Page[Line]:
        ordering = parse_ordering(params.ordering, LINE_ORDERINGS, DEFAULT_LINE_ORDERING)
        paging = page_request(
            page=params.page,
            page_size=params.page_size,
            cursor=params.cursor,
            ordering=ordering,
        )
        wallet = await self._wallet(actor, wallet_id)
        query = LineQuery(wallet.id, params.posted_after, params.posted_before, ordering, paging)

        async def work(uow: UnitOfWork) -> tuple[list[Line], int | None]:
            rows = await uow.entries.lines(query)
            count = None if paging.keyset else await uow.entries.count_lines(query)
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        key = sort_key_for(line_sort_value, ordering, lambda line: line.id)
        return paginate(rows, paging, count, ordering, key)

    async def balance(self, actor: Actor, wallet_id: UUID, at: datetime | None) -> BalanceAt:
        now = self._ctx.clock.now()
        if at is not None and at > now:
            raise ValidationFailed(
                "at must not be in the future.", [FieldError("at", "in the future")]
            )
        instant = now if at is None else at
        wallet = await self._wallet(actor, wallet_id)

        async def work(uow: UnitOfWork) -> int:
            return await uow.entries.balance_at(wallet.id, instant)

        return BalanceAt(wallet, instant, await self._ctx.storage.run_read(work))

    def _interval(
        self, wallet: Account, start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime]:
        begin = wallet.created_at if start is None else start
        finish = self._ctx.clock.now() if end is None else end
        if begin > finish:
            raise ValidationFailed("from must not be after to.", [FieldError("from", "after to")])
        return begin, finish

    async def statement(
        self, actor: Actor, wallet_id: UUID, start: datetime | None, end: datetime | None
    ) -> Statement:
        wallet = await self._wallet(actor, wallet_id)
        begin, finish = self._interval(wallet, start, end)

        async def work(uow: UnitOfWork) -> tuple[int, IntervalTotals]:
            opening = await uow.entries.balance_at(wallet.id, begin, inclusive=False)
            return opening, await uow.entries.interval_totals(wallet.id, begin, finish)

        opening, totals = await self._ctx.storage.run_read(work)
        return Statement(wallet, begin, finish, opening, totals)

    async def export(
        self, actor: Actor, wallet_id: UUID, start: datetime | None, end: datetime | None
    ) -> Export:
        """Checks access and the interval now; the lines are read as they are consumed."""
        wallet = await self._wallet(actor, wallet_id)
        begin, finish = self._interval(wallet, start, end)
        return Export(wallet, begin, finish, self._stream(wallet.id, begin, finish))

    async def _stream(
        self, account_id: UUID, start: datetime, end: datetime
    ) -> AsyncIterator[Line]:
        cursor: Cursor | None = None
        while True:
            page = PageRequest(EXPORT_CHUNK, cursor=cursor, keyset=True)
            query = LineQuery(account_id, start, end, _OLDEST_FIRST, page)

            async def work(uow: UnitOfWork, query: LineQuery = query) -> list[Line]:
                return await uow.entries.lines(query)

            rows = await self._ctx.storage.run_read(work)
            for line in rows[:EXPORT_CHUNK]:
                yield line
            if len(rows) <= EXPORT_CHUNK:
                return
            last = rows[EXPORT_CHUNK - 1]
            cursor = Cursor((last.posted_at,), last.id)
