"""Accounts (wallets and system accounts) in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from adapters.sql import mappers
from adapters.sql.ordering import order_by, seek
from adapters.sql.repositories.base import _paged, _Repository, accounts_t
from wallet_core.errors import AlreadyExists
from wallet_core.ledger import (
    Account,
    AccountKind,
    FundingSource,
)
from wallet_core.queries import (
    WalletQuery,
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

_BALANCE = accounts_t.c.credits_posted - accounts_t.c.debits_posted

_TOTALS = (
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "transaction_count",
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
