"""Repositories for every storage port, on one SQLAlchemy Core connection per unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql import mappers
from adapters.sql.ordering import like_pattern, order_by, seek
from adapters.sql.records import (
    AccountRecord,
    EntryRecord,
    IdempotencyKeyRecord,
    OutboxRecord,
    RefreshTokenRecord,
    TransferRecord,
    UserRecord,
)
from wallet_core.errors import AlreadyExists
from wallet_core.ledger import (
    Account,
    AccountKind,
    Column,
    Entry,
    FundingSource,
    Transfer,
    TransferStatus,
    TransferType,
)
from wallet_core.queries import (
    NEVER,
    PageRequest,
    TransactionFilter,
    TransactionQuery,
    UserQuery,
    WalletQuery,
)
from wallet_core.records import IdempotencyRecord, OutboxEvent, RefreshToken
from wallet_core.users import User

users_t = UserRecord.__table__
accounts_t = AccountRecord.__table__
transfers_t = TransferRecord.__table__
entries_t = EntryRecord.__table__
tokens_t = RefreshTokenRecord.__table__
idem_t = IdempotencyKeyRecord.__table__
outbox_t = OutboxRecord.__table__


class _Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def _dialect(self) -> str:
        return self._conn.dialect.name

    def _insert(self, table: Any) -> Any:
        """A dialect insert, so ``on_conflict_do_nothing`` is available on both databases."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def _paged(stmt: Select[Any], page: PageRequest) -> Select[Any]:
    """One row more than the page holds tells whether another page follows."""
    stmt = stmt.limit(page.page_size + 1)
    return stmt.offset(page.offset) if page.offset else stmt


def _constraint_field(error: IntegrityError) -> str:
    text = str(error.orig).lower()
    for needle, name in (
        ("email", "email"),
        ("username", "username"),
        ("phone", "phone number"),
        ("owner", "currency"),
    ):
        if needle in text:
            return name
    return "value"


# Users ------------------------------------------------------------------------------------------


class SqlUserRepository(_Repository):
    async def add(self, user: User) -> None:
        try:
            await self._conn.execute(users_t.insert().values(mappers.user_to_row(user)))
        except IntegrityError as exc:
            field = _constraint_field(exc)
            raise AlreadyExists(f"A user with this {field} already exists.") from exc

    async def update(self, user: User) -> None:
        row = mappers.user_to_row(user)
        await self._conn.execute(users_t.update().where(users_t.c.id == user.id).values(row))

    async def _one(self, *where: ColumnElement[bool]) -> User | None:
        row = (await self._conn.execute(select(users_t).where(*where).limit(1))).first()
        return mappers.user_from_row(row) if row else None

    async def get(self, user_id: UUID) -> User | None:
        return await self._one(users_t.c.id == user_id)

    async def find_by_login(self, login: str) -> User | None:
        login = login.lower()
        return await self._one(
            or_(users_t.c.email == login, func.lower(users_t.c.username) == login)
        )

    async def find_by_phone(self, phone_number: str) -> User | None:
        return await self._one(users_t.c.phone_number == phone_number)

    async def find_by_username(self, username: str) -> User | None:
        return await self._one(func.lower(users_t.c.username) == username.lower())

    def _where(self, query: UserQuery) -> list[ColumnElement[bool]]:
        f = query.filter
        where: list[ColumnElement[bool]] = []
        for column, value in (
            (users_t.c.email, f.email),
            (users_t.c.first_name, f.first_name),
            (users_t.c.last_name, f.last_name),
        ):
            if value:
                where.append(func.lower(column).like(like_pattern(value), escape="\\"))
        if f.is_staff is not None:
            where.append(users_t.c.is_staff == f.is_staff)
        if f.is_active is not None:
            where.append(users_t.c.is_active == f.is_active)
        return where

    _SORT: Mapping[str, ColumnElement[Any]] = {
        "created_at": users_t.c.created_at,
        "username": users_t.c.username,
        "email": users_t.c.email,
    }

    async def search(self, query: UserQuery) -> list[User]:
        stmt = select(users_t).where(*self._where(query))
        if query.page.cursor is not None:
            stmt = stmt.where(seek(self._SORT, users_t.c.id, query.ordering, query.page.cursor))
        stmt = stmt.order_by(*order_by(self._SORT, users_t.c.id, query.ordering))
        rows = await self._conn.execute(_paged(stmt, query.page))
        return [mappers.user_from_row(r) for r in rows]

    async def count(self, query: UserQuery) -> int:
        stmt = select(func.count()).select_from(users_t).where(*self._where(query))
        return int((await self._conn.execute(stmt)).scalar_one())


# Accounts ---------------------------------------------------------------------------------------

_BALANCE = accounts_t.c.credits_posted - accounts_t.c.debits_posted
_TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


class SqlAccountRepository(_Repository):
    def __init__(
        self, conn: AsyncConnection, new_id: Callable[[], UUID], now: Callable[[], datetime]
    ) -> None:
        super().__init__(conn)
        self._new_id = new_id
        self._now = now

    async def add(self, account: Account) -> None:
        try:
            await self._conn.execute(accounts_t.insert().values(mappers.account_to_row(account)))
        except IntegrityError as exc:
            raise AlreadyExists(f"You already have a {account.currency} wallet.") from exc

    async def get(self, account_id: UUID) -> Account | None:
        stmt = select(accounts_t).where(accounts_t.c.id == account_id)
        row = (await self._conn.execute(stmt)).first()
        return mappers.account_from_row(row) if row else None

    async def lock(self, account_ids: Iterable[UUID]) -> dict[UUID, Account]:
        ids = sorted(set(account_ids), key=lambda u: u.bytes)
        if not ids:
            return {}
        stmt = (
            select(accounts_t)
            .where(accounts_t.c.id.in_(ids))
            .order_by(accounts_t.c.id)
            .with_for_update()
        )
        rows = await self._conn.execute(stmt)
        return {a.id: a for a in map(mappers.account_from_row, rows)}

    async def save(self, accounts: Sequence[Account]) -> None:
        if not accounts:
            return
        stmt = (
            update(accounts_t)
            .where(accounts_t.c.id == bindparam("b_id"))
            .values(
                {name: bindparam(f"b_{name}") for name in (*_TOTALS, "is_active", "updated_at")}
            )
        )
        params = [
            {
                "b_id": a.id,
                "b_is_active": a.is_active,
                "b_updated_at": a.updated_at,
                **{f"b_{name}": getattr(a, name) for name in _TOTALS},
            }
            for a in accounts
        ]
        await self._conn.execute(stmt, params)

    async def wallets_of(self, user_id: UUID) -> list[Account]:
        stmt = (
            select(accounts_t)
            .where(accounts_t.c.owner_id == user_id)
            .order_by(accounts_t.c.created_at, accounts_t.c.id)
        )
        return [mappers.account_from_row(r) for r in await self._conn.execute(stmt)]

    async def wallet_of(self, user_id: UUID, currency: str) -> Account | None:
        stmt = select(accounts_t).where(
            accounts_t.c.owner_id == user_id, accounts_t.c.currency == currency
        )
        row = (await self._conn.execute(stmt)).first()
        return mappers.account_from_row(row) if row else None

    async def system_account(self, source: FundingSource, currency: str) -> Account:
        stmt = select(accounts_t).where(
            accounts_t.c.source == source.value, accounts_t.c.currency == currency
        )
        row = (await self._conn.execute(stmt)).first()
        if row is None:
            now = self._now()
            account = Account(
                id=self._new_id(),
                kind=AccountKind.SYSTEM,
                currency=currency,
                created_at=now,
                updated_at=now,
                source=source,
            )
            insert = self._insert(accounts_t).values(mappers.account_to_row(account))
            await self._conn.execute(insert.on_conflict_do_nothing())
            row = (await self._conn.execute(stmt)).first()
        assert row is not None
        return mappers.account_from_row(row)

    _SORT: Mapping[str, ColumnElement[Any]] = {
        "balance": _BALANCE,
        "created_at": accounts_t.c.created_at,
        "username": func.coalesce(accounts_t.c.owner_username, ""),
        "is_active": accounts_t.c.is_active,
    }

    def _where(self, query: WalletQuery) -> list[ColumnElement[bool]]:
        f = query.filter
        where: list[ColumnElement[bool]] = [accounts_t.c.kind == AccountKind.WALLET.value]
        if f.viewer_id is not None:
            where.append(accounts_t.c.owner_id == f.viewer_id)
        if f.owner_id is not None:
            where.append(accounts_t.c.owner_id == f.owner_id)
        if f.currency is not None:
            where.append(accounts_t.c.currency == f.currency)
        if f.balance_min is not None:
            where.append(f.balance_min <= _BALANCE)
        if f.balance_max is not None:
            where.append(f.balance_max >= _BALANCE)
        if f.created_after is not None:
            where.append(accounts_t.c.created_at >= f.created_after)
        if f.created_before is not None:
            where.append(accounts_t.c.created_at <= f.created_before)
        if f.is_active is not None:
            where.append(accounts_t.c.is_active == f.is_active)
        return where

    async def search(self, query: WalletQuery) -> list[Account]:
        stmt = select(accounts_t).where(*self._where(query))
        if query.page.cursor is not None:
            stmt = stmt.where(seek(self._SORT, accounts_t.c.id, query.ordering, query.page.cursor))
        stmt = stmt.order_by(*order_by(self._SORT, accounts_t.c.id, query.ordering))
        rows = await self._conn.execute(_paged(stmt, query.page))
        return [mappers.account_from_row(r) for r in rows]

    async def count(self, query: WalletQuery) -> int:
        stmt = select(func.count()).select_from(accounts_t).where(*self._where(query))
        return int((await self._conn.execute(stmt)).scalar_one())

    async def all_accounts(self) -> list[Account]:
        rows = await self._conn.execute(select(accounts_t))
        return [mappers.account_from_row(r) for r in rows]


# Transfers --------------------------------------------------------------------------------------


def _transfer_sort(c: Any) -> dict[str, ColumnElement[Any]]:
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


def _transfer_filters(f: TransactionFilter) -> list[ColumnElement[bool]]:
    """Every filter except "whose transactions" (the viewer), which the caller applies."""
    t = transfers_t.c
    where: list[ColumnElement[bool]] = []
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
            t.status == TransferStatus.EXPIRED.value,
            and_(
                t.status == TransferStatus.PENDING.value,
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
    t = transfers_t.c
    return [t.sender_user_id == viewer, t.recipient_user_id == viewer]


class SqlTransferRepository(_Repository):
    async def add(self, transfer: Transfer) -> None:
        try:
            await self._conn.execute(transfers_t.insert().values(mappers.transfer_to_row(transfer)))
        except IntegrityError as exc:
            raise AlreadyExists("This transaction already exists.") from exc

    async def update(self, transfer: Transfer) -> None:
        await self._conn.execute(
            update(transfers_t)
            .where(transfers_t.c.id == transfer.id)
            .values(
                status=transfer.status.value,
                updated_at=transfer.updated_at,
                completed_at=transfer.completed_at,
                failed_attempts=transfer.failed_attempts,
            )
        )

    async def _one(self, *where: ColumnElement[bool], lock: bool = False) -> Transfer | None:
        stmt = select(transfers_t).where(*where)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return mappers.transfer_from_row(row) if row else None

    async def get(self, transfer_id: UUID) -> Transfer | None:
        return await self._one(transfers_t.c.id == transfer_id)

    async def lock(self, transfer_id: UUID) -> Transfer | None:
        return await self._one(transfers_t.c.id == transfer_id, lock=True)

    async def by_provider_id(self, source: FundingSource, provider_id: str) -> Transfer | None:
        return await self._one(
            transfers_t.c.funding_source == source.value, transfers_t.c.provider_id == provider_id
        )

    async def add_if_new_provider_id(self, transfer: Transfer) -> bool:
        stmt = (
            self._insert(transfers_t)
            .values(mappers.transfer_to_row(transfer))
            .on_conflict_do_nothing(index_elements=["funding_source", "provider_id"])
            .returning(transfers_t.c.id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def withdrawals_of(
        self, wallet_ids: Sequence[UUID], *, code_digest: str | None = None, pending_only: bool
    ) -> list[Transfer]:
        if not wallet_ids:
            return []
        t = transfers_t.c
        stmt = select(transfers_t).where(
            t.debit_account_id.in_(list(wallet_ids)),
            t.type == TransferType.WITHDRAWAL.value,
        )
        if code_digest is not None:
            stmt = stmt.where(t.code_digest == code_digest)
        if pending_only:
            stmt = stmt.where(t.status == TransferStatus.PENDING.value)
        stmt = stmt.order_by(t.id).with_for_update()
        return [mappers.transfer_from_row(r) for r in await self._conn.execute(stmt)]

    async def lock_due(self, now: datetime, limit: int) -> list[Transfer]:
        t = transfers_t.c
        stmt = (
            select(transfers_t)
            .where(t.status == TransferStatus.PENDING.value, t.expires_at <= now)
            .order_by(t.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [mappers.transfer_from_row(r) for r in await self._conn.execute(stmt)]

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        t = transfers_t.c
        pending = t.status == TransferStatus.PENDING.value
        totals: dict[UUID, tuple[int, int]] = {}
        for side, column in ((0, t.debit_account_id), (1, t.credit_account_id)):
            stmt = select(column, func.sum(t.amount)).where(pending).group_by(column)
            for account_id, amount in await self._conn.execute(stmt):
                pair = list(totals.get(account_id, (0, 0)))
                pair[side] = int(amount)
                totals[account_id] = (pair[0], pair[1])
        return totals

    async def search(self, query: TransactionQuery) -> list[Transfer]:
        f, page = query.filter, query.page
        where = _transfer_filters(f)
        sort = _transfer_sort(transfers_t.c)
        if page.cursor is not None:
            where.append(seek(sort, transfers_t.c.id, query.ordering, page.cursor))
        ordered = order_by(sort, transfers_t.c.id, query.ordering)
        if f.viewer_id is None:
            stmt = select(transfers_t).where(*where).order_by(*ordered)
            rows = await self._conn.execute(_paged(stmt, page))
            return [mappers.transfer_from_row(r) for r in rows]
        # Each half walks its own (party, created_at, id) index; the union merges two short
        # sorted runs instead of sorting everything the viewer ever did.
        depth = page.offset + page.page_size + 1
        halves = [
            select(
                select(transfers_t).where(side, *where).order_by(*ordered).limit(depth).subquery()
            )
            for side in _viewer_sides(f.viewer_id)
        ]
        merged = union_all(*halves).subquery()
        outer = select(merged).order_by(
            *order_by(_transfer_sort(merged.c), merged.c.id, query.ordering)
        )
        rows = await self._conn.execute(_paged(outer, page))
        return [mappers.transfer_from_row(r) for r in rows]

    async def count(self, query: TransactionQuery) -> int:
        f = query.filter
        where = _transfer_filters(f)
        if f.viewer_id is None:
            stmt = select(func.count()).select_from(transfers_t).where(*where)
            return int((await self._conn.execute(stmt)).scalar_one())
        # Two counts, each an index-only walk of one party index, instead of one OR that makes
        # the planner visit every row of a busy wallet.
        halves = [
            select(func.count()).select_from(transfers_t).where(side, *where).scalar_subquery()
            for side in _viewer_sides(f.viewer_id)
        ]
        return int((await self._conn.execute(select(halves[0] + halves[1]))).scalar_one())


# Entries ----------------------------------------------------------------------------------------


class SqlEntryRepository(_Repository):
    async def add_many(self, entries: Sequence[Entry]) -> None:
        if entries:
            await self._conn.execute(entries_t.insert(), [mappers.entry_to_row(e) for e in entries])

    async def totals(self) -> dict[UUID, dict[Column, int]]:
        e = entries_t.c
        stmt = select(e.account_id, e.total, func.sum(e.delta)).group_by(e.account_id, e.total)
        totals: dict[UUID, dict[Column, int]] = {}
        for account_id, total, delta in await self._conn.execute(stmt):
            totals.setdefault(account_id, {})[Column(total)] = int(delta)
        return totals


# Refresh tokens ---------------------------------------------------------------------------------


class SqlRefreshTokenRepository(_Repository):
    async def add(self, token: RefreshToken) -> None:
        await self._conn.execute(tokens_t.insert().values(mappers.refresh_token_to_row(token)))

    async def lock_by_digest(self, token_digest: str) -> RefreshToken | None:
        stmt = select(tokens_t).where(tokens_t.c.token_digest == token_digest).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return mappers.refresh_token_from_row(row) if row else None

    async def mark_rotated(self, token_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            update(tokens_t).where(tokens_t.c.id == token_id).values(rotated_at=at)
        )

    async def revoke_family(self, family_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            update(tokens_t)
            .where(tokens_t.c.family_id == family_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def revoke_all_of(self, user_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            update(tokens_t)
            .where(tokens_t.c.user_id == user_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


# Idempotency ------------------------------------------------------------------------------------


def _key_of(record: IdempotencyRecord) -> list[ColumnElement[bool]]:
    return [idem_t.c.scope == record.scope, idem_t.c.key == record.key]


class SqlIdempotencyRepository(_Repository):
    async def insert_if_absent(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        stmt = (
            self._insert(idem_t)
            .values(mappers.idempotency_to_row(record))
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(idem_t.c.scope)
        )
        if (await self._conn.execute(stmt)).first() is not None:
            return None
        row = (await self._conn.execute(select(idem_t).where(*_key_of(record)))).first()
        return mappers.idempotency_from_row(row) if row else None

    async def replace(self, existing: IdempotencyRecord, new: IdempotencyRecord) -> bool:
        stmt = (
            update(idem_t)
            .where(*_key_of(existing), idem_t.c.claim_id == existing.claim_id)
            .values(mappers.idempotency_to_row(new))
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def complete(self, record: IdempotencyRecord) -> bool:
        stmt = (
            update(idem_t)
            .where(*_key_of(record), idem_t.c.claim_id == record.claim_id)
            .values(
                state=record.state.value,
                response_status=record.response_status,
                response_body=record.response_body,
            )
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def release(self, record: IdempotencyRecord) -> None:
        await self._conn.execute(
            delete(idem_t).where(
                *_key_of(record),
                idem_t.c.claim_id == record.claim_id,
                idem_t.c.state == "in_flight",
            )
        )

    async def delete_expired(self, now: datetime, limit: int) -> int:
        doomed = select(idem_t.c.scope, idem_t.c.key).where(idem_t.c.expires_at <= now).limit(limit)
        stmt = delete(idem_t).where(tuple_(idem_t.c.scope, idem_t.c.key).in_(doomed))
        return int((await self._conn.execute(stmt)).rowcount)


# Outbox -----------------------------------------------------------------------------------------


class SqlOutboxRepository(_Repository):
    async def add_many(self, events: Sequence[OutboxEvent]) -> None:
        if events:
            await self._conn.execute(outbox_t.insert(), [mappers.outbox_to_row(e) for e in events])

    async def lock_undispatched(
        self, limit: int, stale_before: datetime, now: datetime
    ) -> list[OutboxEvent]:
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
        return [mappers.outbox_from_row(r) for r in await self._conn.execute(stmt)]

    async def mark_dispatched(self, event_ids: Sequence[UUID], at: datetime) -> None:
        if event_ids:
            await self._conn.execute(
                update(outbox_t).where(outbox_t.c.id.in_(list(event_ids))).values(dispatched_at=at)
            )

    async def lock_for_delivery(self, event_id: UUID) -> OutboxEvent | None:
        stmt = select(outbox_t).where(outbox_t.c.id == event_id).with_for_update()
        row = (await self._conn.execute(stmt)).first()
        return mappers.outbox_from_row(row) if row else None

    async def mark_sent(self, event_id: UUID, at: datetime, payload: Mapping[str, str]) -> None:
        await self._conn.execute(
            update(outbox_t)
            .where(outbox_t.c.id == event_id)
            .values(
                sent_at=at,
                payload=dict(payload),
                dispatched_at=func.coalesce(outbox_t.c.dispatched_at, at),
            )
        )

    async def record_attempt(self, event_id: UUID, retry_at: datetime) -> None:
        await self._conn.execute(
            update(outbox_t)
            .where(outbox_t.c.id == event_id)
            .values(attempts=outbox_t.c.attempts + 1, next_attempt_at=retry_at, dispatched_at=None)
        )


class SqlUnitOfWork:
    """The repositories of one transaction, sharing its connection."""

    def __init__(
        self, conn: AsyncConnection, new_id: Callable[[], UUID], now: Callable[[], datetime]
    ) -> None:
        self.users = SqlUserRepository(conn)
        self.accounts = SqlAccountRepository(conn, new_id, now)
        self.transfers = SqlTransferRepository(conn)
        self.entries = SqlEntryRepository(conn)
        self.refresh_tokens = SqlRefreshTokenRepository(conn)
        self.idempotency = SqlIdempotencyRepository(conn)
        self.outbox = SqlOutboxRepository(conn)
