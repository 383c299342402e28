"""Idempotency receipts in SQL (the SQLite path; PostgreSQL's money path claims them in its
one statement)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    bindparam,
    delete,
    select,
    text,
    tuple_,
)

from adapters.sql import mappers
from adapters.sql.repositories.base import _Repository, idem_t
from wallet_core.journal import Receipt, StoredReceipt, Written

_RECEIPT_BY_KEY = select(idem_t.c.fingerprint, idem_t.c.receipt).where(
    idem_t.c.scope == bindparam("scope"),
    idem_t.c.key == bindparam("key"),
    idem_t.c.expires_at > bindparam("now"),
)

#: The transaction-scoped advisory lock that marks an idempotency key's request as in flight.
KEY_LOCK = "pg_try_advisory_xact_lock(hashtextextended({scope} || ' ' || {key}, 0))"

_KEY_LOCK = text("SELECT " + KEY_LOCK.format(scope=":scope", key=":key"))


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
