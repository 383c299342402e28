"""Repositories for every storage port, on one SQLAlchemy Core connection per unit of work.

The money path on PostgreSQL does not go through these (see ``pg_ledger``): they serve the
embedded SQLite database, and every other use case on both databases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    text,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql import mappers
from adapters.sql.entries import SqlEntryRepository
from adapters.sql.events import SqlEventRepository
from adapters.sql.ordering import like_pattern, order_by, seek
from adapters.sql.records import (
    AccountRecord,
    IdempotencyKeyRecord,
    OutboxRecord,
    RefreshTokenRecord,
    TransferRecord,
    UserRecord,
    table_of,
)
from adapters.sql.session import Session
from adapters.sql.session_marks import SqlSessionMarkRepository
from adapters.sql.webhooks import SqlWebhookRepository
from wallet_core.errors import AlreadyExists
from wallet_core.journal import Receipt, StoredReceipt, Written
from wallet_core.ledger import (
    Account,
    AccountKind,
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
from wallet_core.records import Notification, RefreshToken
from wallet_core.users import User

users_t = table_of(UserRecord)
accounts_t = table_of(AccountRecord)
transfers_t = table_of(TransferRecord)
tokens_t = table_of(RefreshTokenRecord)
idem_t = table_of(IdempotencyKeyRecord)
outbox_t = table_of(OutboxRecord)

# Statements built once: executing a prebuilt statement with parameters skips SQLAlchemy's
# per-call construction and cache-key work on the hot path (see docs/performance.md).
_USER_INSERT = users_t.insert()
_USER_BY_ID = select(users_t).where(users_t.c.id == bindparam("id"))
_USER_LOCK = _USER_BY_ID.with_for_update()
_USER_BY_LOGIN = (
    select(users_t)
    .where(
        or_(
            users_t.c.email == bindparam("login"),
            func.lower(users_t.c.username) == bindparam("login"),
        )
    )
    .limit(1)
)
_USER_BY_PHONE = select(users_t).where(users_t.c.phone_number == bindparam("phone"))
_USER_BY_USERNAME = select(users_t).where(
    func.lower(users_t.c.username) == func.lower(bindparam("username"))
)
_ACCOUNT_INSERT = accounts_t.insert()
_ACCOUNT_BY_ID = select(accounts_t).where(accounts_t.c.id == bindparam("id"))
_ACCOUNTS_LOCK = (
    select(accounts_t)
    .where(accounts_t.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(accounts_t.c.id)
    .with_for_update()
)
_WALLETS_OF = (
    select(accounts_t)
    .where(accounts_t.c.owner_id == bindparam("owner"))
    .order_by(accounts_t.c.created_at, accounts_t.c.id)
)
_WALLET_OF = select(accounts_t).where(
    accounts_t.c.owner_id == bindparam("owner"), accounts_t.c.currency == bindparam("currency")
)
_SYSTEM_ACCOUNT = select(accounts_t).where(
    accounts_t.c.source == bindparam("source"), accounts_t.c.currency == bindparam("currency")
)
_TRANSFER_INSERT = transfers_t.insert()
_TRANSFER_BY_ID = select(transfers_t).where(transfers_t.c.id == bindparam("id"))
_TRANSFER_LOCK = _TRANSFER_BY_ID.with_for_update()
_TRANSFER_BY_PROVIDER = select(transfers_t).where(
    transfers_t.c.funding_source == bindparam("source"),
    transfers_t.c.provider_id == bindparam("provider_id"),
)
_TRANSFER_UPDATE = (
    update(transfers_t)
    .where(transfers_t.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        updated_at=bindparam("b_updated_at"),
        completed_at=bindparam("b_completed_at"),
        failed_attempts=bindparam("b_failed_attempts"),
        reversed_amount=bindparam("b_reversed_amount"),
    )
)
_VIEWER_TRANSFER_COUNT = select(func.coalesce(func.sum(accounts_t.c.transfer_count), 0)).where(
    accounts_t.c.owner_id == bindparam("owner")
)
_OUTBOX_INSERT = outbox_t.insert()
_RECEIPT_BY_KEY = select(idem_t.c.fingerprint, idem_t.c.receipt).where(
    idem_t.c.scope == bindparam("scope"),
    idem_t.c.key == bindparam("key"),
    idem_t.c.expires_at > bindparam("now"),
)
#: The transaction-scoped advisory lock that marks an idempotency key's request as in flight.
KEY_LOCK = "pg_try_advisory_xact_lock(hashtextextended({scope} || ' ' || {key}, 0))"
_KEY_LOCK = text("SELECT " + KEY_LOCK.format(scope=":scope", key=":key"))


class _Repository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @property
    def _dialect(self) -> str:
        return self._s.dialect

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
            await self._s.execute(_USER_INSERT, mappers.user_to_row(user))
        except IntegrityError as exc:
            field = _constraint_field(exc)
            raise AlreadyExists(f"A user with this {field} already exists.") from exc

    async def update(self, user: User) -> None:
        row = mappers.user_to_row(user)
        await self._s.execute(users_t.update().where(users_t.c.id == user.id).values(row))

    async def _one(self, stmt: Select[Any], params: dict[str, Any]) -> User | None:
        row = (await self._s.execute(stmt, params)).first()
        return mappers.user_from_row(row) if row else None

    async def get(self, user_id: UUID) -> User | None:
        return await self._one(_USER_BY_ID, {"id": user_id})

    async def lock(self, user_id: UUID) -> User | None:
        return await self._one(_USER_LOCK, {"id": user_id})

    async def find_by_login(self, login: str) -> User | None:
        return await self._one(_USER_BY_LOGIN, {"login": login.lower()})

    async def find_by_phone(self, phone_number: str) -> User | None:
        return await self._one(_USER_BY_PHONE, {"phone": phone_number})

    async def find_by_username(self, username: str) -> User | None:
        return await self._one(_USER_BY_USERNAME, {"username": username})

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
        rows = await self._s.execute(_paged(stmt, query.page))
        return [mappers.user_from_row(r) for r in rows]

    async def count(self, query: UserQuery) -> int:
        stmt = select(func.count()).select_from(users_t).where(*self._where(query))
        return int((await self._s.execute(stmt)).scalar_one())


# Accounts ---------------------------------------------------------------------------------------

_BALANCE = accounts_t.c.credits_posted - accounts_t.c.debits_posted
_TOTALS = (
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "transfer_count",
)
_ACCOUNT_SAVE = (
    update(accounts_t)
    .where(accounts_t.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in (*_TOTALS, "is_active", "updated_at")})
)


class SqlAccountRepository(_Repository):
    async def add(self, account: Account) -> None:
        try:
            await self._s.execute(_ACCOUNT_INSERT, mappers.account_to_row(account))
        except IntegrityError as exc:
            raise AlreadyExists(f"You already have a {account.currency} wallet.") from exc

    async def get(self, account_id: UUID) -> Account | None:
        row = (await self._s.execute(_ACCOUNT_BY_ID, {"id": account_id})).first()
        return mappers.account_from_row(row) if row else None

    async def lock(self, account_ids: Iterable[UUID]) -> dict[UUID, Account]:
        ids = sorted(set(account_ids), key=lambda u: u.bytes)
        if not ids:
            return {}
        rows = await self._s.execute(_ACCOUNTS_LOCK, {"ids": ids})
        return {a.id: a for a in map(mappers.account_from_row, rows)}

    async def save(self, accounts: Sequence[Account]) -> None:
        if not accounts:
            return
        params = [
            {
                "b_id": a.id,
                "b_is_active": a.is_active,
                "b_updated_at": a.updated_at,
                **{f"b_{name}": getattr(a, name) for name in _TOTALS},
            }
            for a in accounts
        ]
        await self._s.execute(_ACCOUNT_SAVE, params)

    async def wallets_of(self, user_id: UUID) -> list[Account]:
        rows = await self._s.execute(_WALLETS_OF, {"owner": user_id})
        return [mappers.account_from_row(r) for r in rows]

    async def wallet_of(self, user_id: UUID, currency: str) -> Account | None:
        params = {"owner": user_id, "currency": currency}
        row = (await self._s.execute(_WALLET_OF, params)).first()
        return mappers.account_from_row(row) if row else None

    async def find_system(self, source: FundingSource, currency: str) -> Account | None:
        params = {"source": source.value, "currency": currency}
        row = (await self._s.execute(_SYSTEM_ACCOUNT, params)).first()
        return mappers.account_from_row(row) if row else None

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
        rows = await self._s.execute(_paged(stmt, query.page))
        return [mappers.account_from_row(r) for r in rows]

    async def count(self, query: WalletQuery) -> int:
        stmt = select(func.count()).select_from(accounts_t).where(*self._where(query))
        return int((await self._s.execute(stmt)).scalar_one())

    async def all_accounts(self) -> list[Account]:
        rows = await self._s.execute(select(accounts_t))
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


def _metadata_filter(pairs: Sequence[tuple[str, str]], dialect: str) -> list[ColumnElement[bool]]:
    """All pairs must match: one JSONB containment on PostgreSQL (the GIN index answers it);
    a JSON lookup per key on SQLite (a scan; keys are checked to be plain)."""
    column = transfers_t.c["metadata"]
    if not pairs:
        return []
    if dialect == "postgresql":
        return [type_coerce(column, postgresql.JSONB()).contains(dict(pairs))]
    return [func.json_extract(column, f'$."{key}"') == value for key, value in pairs]


def _transfer_filters(f: TransactionFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Every filter except "whose transactions" (the viewer), which the caller applies."""
    t = transfers_t.c
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
            await self._s.execute(_TRANSFER_INSERT, [mappers.transfer_to_row(transfer)])
        except IntegrityError as exc:
            raise AlreadyExists("This transaction already exists.") from exc

    async def update(self, transfer: Transfer) -> None:
        await self._s.execute(
            _TRANSFER_UPDATE,
            [
                {
                    "b_id": transfer.id,
                    "b_status": transfer.status.value,
                    "b_updated_at": transfer.updated_at,
                    "b_completed_at": transfer.completed_at,
                    "b_failed_attempts": transfer.failed_attempts,
                    "b_reversed_amount": transfer.reversed_amount,
                }
            ],
        )

    async def _one(self, stmt: Select[Any], params: dict[str, Any]) -> Transfer | None:
        row = (await self._s.execute(stmt, params)).first()
        return mappers.transfer_from_row(row) if row else None

    async def get(self, transfer_id: UUID) -> Transfer | None:
        return await self._one(_TRANSFER_BY_ID, {"id": transfer_id})

    async def lock(self, transfer_id: UUID) -> Transfer | None:
        return await self._one(_TRANSFER_LOCK, {"id": transfer_id})

    async def by_provider_id(self, source: FundingSource, provider_id: str) -> Transfer | None:
        params = {"source": source.value, "provider_id": provider_id}
        return await self._one(_TRANSFER_BY_PROVIDER, params)

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
        return [mappers.transfer_from_row(r) for r in await self._s.execute(stmt)]

    async def lock_due(self, now: datetime, limit: int) -> list[Transfer]:
        t = transfers_t.c
        stmt = (
            select(transfers_t)
            .where(t.status == TransferStatus.PENDING.value, t.expires_at <= now)
            .order_by(t.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [mappers.transfer_from_row(r) for r in await self._s.execute(stmt)]

    async def transfer_counts(self) -> dict[UUID, int]:
        t = transfers_t.c
        counts: dict[UUID, int] = {}
        for column in (t.debit_account_id, t.credit_account_id):
            stmt = select(column, func.count()).group_by(column)
            for account_id, n in await self._s.execute(stmt):
                counts[account_id] = counts.get(account_id, 0) + int(n)
        return counts

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        t = transfers_t.c
        pending = t.status == TransferStatus.PENDING.value
        totals: dict[UUID, tuple[int, int]] = {}
        for side, column in ((0, t.debit_account_id), (1, t.credit_account_id)):
            stmt = select(column, func.sum(t.amount)).where(pending).group_by(column)
            for account_id, amount in await self._s.execute(stmt):
                pair = list(totals.get(account_id, (0, 0)))
                pair[side] = int(amount)
                totals[account_id] = (pair[0], pair[1])
        return totals

    async def search(self, query: TransactionQuery) -> list[Transfer]:
        f, page = query.filter, query.page
        where = _transfer_filters(f, self._dialect)
        sort = _transfer_sort(transfers_t.c)
        if page.cursor is not None:
            where.append(seek(sort, transfers_t.c.id, query.ordering, page.cursor))
        ordered = order_by(sort, transfers_t.c.id, query.ordering)
        if f.viewer_id is None:
            stmt = select(transfers_t).where(*where).order_by(*ordered)
            rows = await self._s.execute(_paged(stmt, page))
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
        rows = await self._s.execute(_paged(outer, page))
        return [mappers.transfer_from_row(r) for r in rows]

    async def count(self, query: TransactionQuery) -> int:
        f = query.filter
        if f.is_viewer_only:
            params = {"owner": f.viewer_id}
            return int((await self._s.execute(_VIEWER_TRANSFER_COUNT, params)).scalar_one())
        where = _transfer_filters(f, self._dialect)
        if f.viewer_id is None:
            stmt = select(func.count()).select_from(transfers_t).where(*where)
            return int((await self._s.execute(stmt)).scalar_one())
        # Two counts, each an index-only walk of one party index, instead of one OR that makes
        # the planner visit every row of a busy wallet.
        halves = [
            select(func.count()).select_from(transfers_t).where(side, *where).scalar_subquery()
            for side in _viewer_sides(f.viewer_id)
        ]
        return int((await self._s.execute(select(halves[0] + halves[1]))).scalar_one())


# Refresh tokens ---------------------------------------------------------------------------------


class SqlRefreshTokenRepository(_Repository):
    async def add(self, token: RefreshToken) -> None:
        await self._s.execute(tokens_t.insert().values(mappers.refresh_token_to_row(token)))

    async def lock_by_digest(self, token_digest: str) -> RefreshToken | None:
        stmt = select(tokens_t).where(tokens_t.c.token_digest == token_digest).with_for_update()
        row = (await self._s.execute(stmt)).first()
        return mappers.refresh_token_from_row(row) if row else None

    async def mark_rotated(self, token_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t).where(tokens_t.c.id == token_id).values(rotated_at=at)
        )

    async def revoke_family(self, family_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t)
            .where(tokens_t.c.family_id == family_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def revoke_all_of(self, user_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t)
            .where(tokens_t.c.user_id == user_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


# Idempotency ------------------------------------------------------------------------------------


class SqlReceiptRepository(_Repository):
    async def begin(self, scope: str, key: str, now: datetime) -> Written:
        if self._dialect == "postgresql":
            params = {"scope": scope, "key": key}
            if not (await self._s.execute(_KEY_LOCK, params)).scalar_one():
                return Written.IN_FLIGHT
        found = await self.get(scope, key, now)
        return Written.APPLIED if found is None else Written.DUPLICATE

    async def claim(self, receipt: Receipt) -> Written:
        """Insert the receipt, or take over an expired one under the same key."""
        row = mappers.receipt_to_row(receipt)
        stmt = (
            self._insert(idem_t)
            .values(row)
            .on_conflict_do_update(
                index_elements=["scope", "key"],
                set_={
                    name: row[name]
                    for name in ("fingerprint", "receipt", "created_at", "expires_at")
                },
                where=idem_t.c.expires_at <= receipt.created_at,
            )
            .returning(idem_t.c.key)
        )
        inserted = (await self._s.execute(stmt)).first() is not None
        return Written.APPLIED if inserted else Written.DUPLICATE

    async def get(self, scope: str, key: str, now: datetime) -> StoredReceipt | None:
        params = {"scope": scope, "key": key, "now": now}
        row = (await self._s.execute(_RECEIPT_BY_KEY, params)).first()
        return StoredReceipt(row.fingerprint, bytes(row.receipt)) if row else None

    async def delete_expired(self, now: datetime, limit: int) -> int:
        doomed = select(idem_t.c.scope, idem_t.c.key).where(idem_t.c.expires_at <= now).limit(limit)
        stmt = delete(idem_t).where(tuple_(idem_t.c.scope, idem_t.c.key).in_(doomed))
        return int((await self._s.execute(stmt)).rowcount)


# Outbox -----------------------------------------------------------------------------------------


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


class SqlUnitOfWork:
    """The repositories of one transaction, sharing its session."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.session = Session(conn)
        self.users = SqlUserRepository(self.session)
        self.accounts = SqlAccountRepository(self.session)
        self.transfers = SqlTransferRepository(self.session)
        self.entries = SqlEntryRepository(self.session)
        self.refresh_tokens = SqlRefreshTokenRepository(self.session)
        self.session_marks = SqlSessionMarkRepository(self.session)
        self.receipts = SqlReceiptRepository(self.session)
        self.outbox = SqlOutboxRepository(self.session)
        self.events = SqlEventRepository(self.session)
        self.webhooks = SqlWebhookRepository(self.session)
