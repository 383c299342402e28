"""Transactions in SQL: by id, by provider id, locked for a change, and the filtered,
ordered, paged lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from adapters.sql import mappers
from adapters.sql.ordering import like_pattern, order_by, seek
from adapters.sql.records import EMPTY_METADATA
from adapters.sql.repositories.base import _paged, _Repository, accounts_t, transactions_t
from wallet_core.errors import AlreadyExists
from wallet_core.ledger import (
    FundingSource,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from wallet_core.queries import (
    NEVER,
    TransactionFilter,
    TransactionQuery,
)

_TRANSACTION_INSERT = transactions_t.insert()

_TRANSACTION_BY_ID = select(transactions_t).where(transactions_t.c.id == bindparam("id"))

_TRANSACTION_LOCK = _TRANSACTION_BY_ID.with_for_update()

_TRANSACTION_BY_PROVIDER = select(transactions_t).where(
    transactions_t.c.funding_source == bindparam("source"),
    transactions_t.c.provider_id == bindparam("provider_id"),
)

_TRANSACTION_UPDATE = (
    update(transactions_t)
    .where(transactions_t.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        updated_at=bindparam("b_updated_at"),
        completed_at=bindparam("b_completed_at"),
        failed_attempts=bindparam("b_failed_attempts"),
        reversed_amount=bindparam("b_reversed_amount"),
    )
)

_VIEWER_TRANSACTION_COUNT = select(
    func.coalesce(func.sum(accounts_t.c.transaction_count), 0)
).where(accounts_t.c.owner_id == bindparam("owner"))


def _transaction_sort(c: Any) -> dict[str, ColumnElement[Any]]:
    """Sort expressions over a column collection (the table, or a union subquery)."""
    return {
        "amount": c.amount,
        "created_at": c.created_at,
        "expiry_time": func.coalesce(c.expires_at, literal(NEVER, DateTimeUTC())),
        "type": c.type,
        "status": c.status,
        "sender_username": func.coalesce(c.sender_username, ""),
        "recipient_username": func.coalesce(c.recipient_username, ""),
    }


def _metadata_filter(pairs: Sequence[tuple[str, str]], dialect: str) -> list[ColumnElement[bool]]:
    """All pairs must match: one JSONB containment on PostgreSQL (the GIN index answers it: it
    holds the rows with some metadata, which the filter says, as the planner cannot infer it);
    a JSON lookup per key on SQLite (a scan; keys are checked to be plain)."""
    column = transactions_t.c["metadata"]
    if not pairs:
        return []
    if dialect == "postgresql":
        document = type_coerce(column, postgresql.JSONB())
        return [document.contains(dict(pairs)), document != literal_column(EMPTY_METADATA)]
    return [func.json_extract(column, f'$."{key}"') == value for key, value in pairs]


def _transaction_filters(f: TransactionFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Every filter except "whose transactions" (the viewer), which the caller applies."""
    t = transactions_t.c
    where: list[ColumnElement[bool]] = _metadata_filter(f.metadata, dialect)
    if f.amount_min is not None:
        where.append(t.amount >= f.amount_min)
    if f.amount_max is not None:
        where.append(t.amount <= f.amount_max)
    if f.types:
        where.append(t.type.in_(sorted(x.value for x in f.types)))
    if f.statuses:
        where.append(t.status.in_(sorted(x.value for x in f.statuses)))
    if f.funding_sources:
        where.append(t.funding_source.in_(sorted(x.value for x in f.funding_sources)))
    if f.currency is not None:
        where.append(t.currency == f.currency)
    if f.wallet_id is not None:
        where.append(or_(t.debit_account_id == f.wallet_id, t.credit_account_id == f.wallet_id))
    if f.text is not None:
        pattern = like_pattern(f.text)
        where.append(
            or_(
                func.lower(t.reference).like(pattern, escape="\\"),
                func.lower(t.description).like(pattern, escape="\\"),
            )
        )
    if f.created_after is not None:
        where.append(t.created_at >= f.created_after)
    if f.created_before is not None:
        where.append(t.created_at <= f.created_before)
    if f.expires_after is not None:
        where.append(t.expires_at >= f.expires_after)
    if f.expires_before is not None:
        where.append(t.expires_at <= f.expires_before)
    if f.is_expired is not None:
        now = f.now or NEVER
        expired = or_(
            t.status == TransactionStatus.EXPIRED.value,
            and_(
                t.status == TransactionStatus.PENDING.value,
                func.coalesce(t.expires_at, literal(NEVER, DateTimeUTC())) <= now,
            ),
        )
        where.append(expired if f.is_expired else ~expired)
    if f.sender_id is not None:
        where.append(t.sender_user_id == f.sender_id)
    if f.recipient_id is not None:
        where.append(t.recipient_user_id == f.recipient_id)
    if f.involving_id is not None:
        where.append(or_(t.sender_user_id == f.involving_id, t.recipient_user_id == f.involving_id))
    if f.direction == "in":
        where.append(t.recipient_user_id == f.caller_id)
    elif f.direction == "out":
        where.append(t.sender_user_id == f.caller_id)
    if f.matches_nothing:
        where.append(false())
    return where


def _viewer_sides(viewer: UUID) -> list[ColumnElement[bool]]:
    """A viewer's transactions as two halves, each served by its own (party, created_at, id)
    index: sent, and received. They are disjoint: nobody is both sender and recipient of one
    transaction (one wallet per currency, and a transfer stays in one currency between two
    different wallets)."""
    t = transactions_t.c
    return [t.sender_user_id == viewer, t.recipient_user_id == viewer]


class SqlTransactionRepository(_Repository):
    async def add(self, transaction: Transaction) -> None:
        try:
            await self._s.execute(_TRANSACTION_INSERT, [mappers.transaction_to_row(transaction)])
        except IntegrityError as exc:
            raise AlreadyExists("This transaction already exists.") from exc

    async def update(self, transaction: Transaction) -> None:
        await self._s.execute(
            _TRANSACTION_UPDATE,
            [
                {
                    "b_id": transaction.id,
                    "b_status": transaction.status.value,
                    "b_updated_at": transaction.updated_at,
                    "b_completed_at": transaction.completed_at,
                    "b_failed_attempts": transaction.failed_attempts,
                    "b_reversed_amount": transaction.reversed_amount,
                }
            ],
        )

    async def _one(self, stmt: Select[Any], params: dict[str, Any]) -> Transaction | None:
        row = (await self._s.execute(stmt, params)).first()
        return mappers.transaction_from_row(row) if row else None

    async def get(self, transaction_id: UUID) -> Transaction | None:
        return await self._one(_TRANSACTION_BY_ID, {"id": transaction_id})

    async def lock(self, transaction_id: UUID) -> Transaction | None:
        return await self._one(_TRANSACTION_LOCK, {"id": transaction_id})

    async def by_provider_id(self, source: FundingSource, provider_id: str) -> Transaction | None:
        params = {"source": source.value, "provider_id": provider_id}
        return await self._one(_TRANSACTION_BY_PROVIDER, params)

    async def withdrawals_of(
        self,
        wallet_ids: Sequence[UUID],
        *,
        code_digests: Sequence[str] | None = None,
        pending_only: bool,
    ) -> list[Transaction]:
        if not wallet_ids:
            return []
        t = transactions_t.c
        stmt = select(transactions_t).where(
            t.debit_account_id.in_(list(wallet_ids)),
            t.type == TransactionType.WITHDRAWAL.value,
        )
        if code_digests is not None:
            stmt = stmt.where(t.code_digest.in_(list(code_digests)))
        if pending_only:
            stmt = stmt.where(t.status == TransactionStatus.PENDING.value)
        stmt = stmt.order_by(t.id).with_for_update()
        return [mappers.transaction_from_row(r) for r in await self._s.execute(stmt)]

    async def lock_due(self, now: datetime, limit: int) -> list[Transaction]:
        t = transactions_t.c
        stmt = (
            select(transactions_t)
            .where(t.status == TransactionStatus.PENDING.value, t.expires_at <= now)
            .order_by(t.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [mappers.transaction_from_row(r) for r in await self._s.execute(stmt)]

    async def transaction_counts(self) -> dict[UUID, int]:
        t = transactions_t.c
        counts: dict[UUID, int] = {}
        for column in (t.debit_account_id, t.credit_account_id):
            stmt = select(column, func.count()).group_by(column)
            for account_id, n in await self._s.execute(stmt):
                counts[account_id] = counts.get(account_id, 0) + int(n)
        return counts

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        t = transactions_t.c
        pending = t.status == TransactionStatus.PENDING.value
        totals: dict[UUID, tuple[int, int]] = {}
        for side, column in ((0, t.debit_account_id), (1, t.credit_account_id)):
            stmt = select(column, func.sum(t.amount)).where(pending).group_by(column)
            for account_id, amount in await self._s.execute(stmt):
                pair = list(totals.get(account_id, (0, 0)))
                pair[side] = int(amount)
                totals[account_id] = (pair[0], pair[1])
        return totals

    async def search(self, query: TransactionQuery) -> list[Transaction]:
        f, page = query.filter, query.page
        where = _transaction_filters(f, self._dialect)
        sort = _transaction_sort(transactions_t.c)
        if page.cursor is not None:
            where.append(seek(sort, transactions_t.c.id, query.ordering, page.cursor))
        ordered = order_by(sort, transactions_t.c.id, query.ordering)
        if f.viewer_id is None:
            stmt = select(transactions_t).where(*where).order_by(*ordered)
            rows = await self._s.execute(_paged(stmt, page))
            return [mappers.transaction_from_row(r) for r in rows]
        # Each half walks its own (party, created_at, id) index; the union merges two short
        # sorted runs instead of sorting everything the viewer ever did.
        depth = page.offset + page.page_size + 1
        halves = [
            select(
                select(transactions_t)
                .where(side, *where)
                .order_by(*ordered)
                .limit(depth)
                .subquery()
            )
            for side in _viewer_sides(f.viewer_id)
        ]
        merged = union_all(*halves).subquery()
        outer = select(merged).order_by(
            *order_by(_transaction_sort(merged.c), merged.c.id, query.ordering)
        )
        rows = await self._s.execute(_paged(outer, page))
        return [mappers.transaction_from_row(r) for r in rows]

    async def count(self, query: TransactionQuery) -> int:
        f = query.filter
        if f.is_viewer_only:
            params = {"owner": f.viewer_id}
            return int((await self._s.execute(_VIEWER_TRANSACTION_COUNT, params)).scalar_one())
        where = _transaction_filters(f, self._dialect)
        if f.viewer_id is None:
            stmt = select(func.count()).select_from(transactions_t).where(*where)
            return int((await self._s.execute(stmt)).scalar_one())
        # Two counts, each an index-only walk of one party index, instead of one OR that makes
        # the planner visit every row of a busy wallet.
        halves = [
            select(func.count()).select_from(transactions_t).where(side, *where).scalar_subquery()
            for side in _viewer_sides(f.viewer_id)
        ]
        return int((await self._s.execute(select(halves[0] + halves[1]))).scalar_one())
