"""``AsyncpgLedger``: the money path on PostgreSQL, on asyncpg directly.

Every read is one query and every write one statement (``pg_write``), each sent outside any
transaction (autocommit): a money request costs two round trips and one commit. Statements are
prepared once per connection (asyncpg's statement cache) and connections go back to the pool
without a reset query (nothing here leaves session state behind).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from adapters.sql import mappers, pg_reads
from adapters.sql.pg_write import REFUSED_SQLSTATE, statement
from wallet_core.errors import ServiceUnavailable
from wallet_core.journal import LedgerWrite, StoredReceipt, Written
from wallet_core.ledger import Account, FundingSource, Transaction
from wallet_core.snapshots import (
    Candidate,
    CashOutAttempt,
    ProviderDeposit,
    RecipientQuery,
    TransactionParties,
    TransactionState,
    WalletsAndSinks,
)

#: What a concurrent write can make a statement fail with; the core decides again.
RETRY_SQLSTATES = frozenset(
    {
        REFUSED_SQLSTATE,
        "23505",  # unique_violation: a provider id (or reference) another write took first
        "23514",  # check_violation: a constraint backing a guard
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)


#: How long a request waits for a free connection before a 503 (the SQL pool's pool_timeout).
ACQUIRE_TIMEOUT_SECONDS = 10

#: Connection exceptions, insufficient resources (too many connections) and operator
#: intervention (a restart): retryable, the client's 503.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to reset: no query leaves session state behind (saves a round trip per release)."""


def _wallets(records: Iterable[Any]) -> tuple[Account, ...]:
    found = [mappers.account_from_row(r) for r in records if r is not None]
    return tuple(sorted(found, key=lambda a: (a.created_at, a.id.bytes)))


def _candidate(rows: list[Any]) -> Candidate | None:
    if not rows:
        return None
    first = rows[0]
    wallets = _wallets(r["account"] for r in rows)
    return Candidate(first["user_id"], first["username"], first["is_active"], wallets)


def _state(row: Any) -> TransactionState:
    return TransactionState(
        mappers.transaction_from_row(row["transaction"]),
        mappers.account_from_row(row["debit"]),
        mappers.account_from_row(row["credit"]),
    )


class AsyncpgLedger:
    def __init__(self, dsn: str, *, pool_size: int = 10) -> None:
        """``dsn``: a plain ``postgresql://`` URL. The pool opens on first use (inside the
        event loop that serves requests)."""
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._pool_size,
                    reset=_no_reset,
                    timeout=5,
                    server_settings={"application_name": "digital-wallet"},
                )
            return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            pool = self._pool or await self._open()
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn:
                return list(await conn.fetch(sql, *args))
        except asyncpg.PostgresError as exc:
            if (exc.sqlstate or "").startswith(UNAVAILABLE_SQLSTATES):
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from exc
            raise
        except (OSError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise ServiceUnavailable("The database is unavailable; retry shortly.") from exc

    async def transaction_parties(
        self, sender_id: UUID, recipient: RecipientQuery
    ) -> TransactionParties:
        rows = await self._fetch(
            pg_reads.TRANSACTION_PARTIES,
            sender_id,
            recipient.wallet_id,
            recipient.phone_number,
            recipient.username,
        )
        by_role: dict[str, list[Any]] = {}
        for row in rows:
            by_role.setdefault(row["role"], []).append(row)
        named = by_role.get("n", [])
        named_wallet = mappers.account_from_row(named[0]["account"]) if named else None
        owner = None
        if named and named[0]["user_id"] is not None:
            owner = _candidate(by_role.get("w", [])) or Candidate(
                named[0]["user_id"], named[0]["username"], named[0]["is_active"]
            )
        return TransactionParties(
            sender_wallets=_wallets(r["account"] for r in by_role.get("s", [])),
            named_wallet=named_wallet,
            by_wallet=owner,
            by_phone=_candidate(by_role.get("p", [])),
            by_username=_candidate(by_role.get("u", [])),
        )

    async def wallets_and_sinks(self, user_id: UUID, source: FundingSource) -> WalletsAndSinks:
        rows = await self._fetch(pg_reads.WALLETS_AND_SINKS, user_id, source.value)
        accounts = [mappers.account_from_row(r["account"]) for r in rows]
        wallets = _wallets(r["account"] for r in rows if r["account"]["kind"] == "wallet")
        systems = {a.currency: a for a in accounts if not a.is_wallet}
        return WalletsAndSinks(wallets, systems)

    async def wallet_and_source(
        self, wallet_id: UUID, source: FundingSource
    ) -> tuple[Account | None, Account | None]:
        rows = await self._fetch(pg_reads.WALLET_AND_SOURCE, wallet_id, source.value)
        accounts = [mappers.account_from_row(r["account"]) for r in rows]
        wallet = next((a for a in accounts if a.id == wallet_id), None)
        system = next((a for a in accounts if a.id != wallet_id), None)
        return wallet, system

    async def provider_deposit(
        self, source: FundingSource, provider_id: str, phone_number: str
    ) -> ProviderDeposit:
        rows = await self._fetch(pg_reads.PROVIDER_DEPOSIT, source.value, provider_id, phone_number)
        existing = next((r["transaction"] for r in rows if r["role"] == "x"), None)
        if existing is not None:
            return ProviderDeposit(mappers.transaction_from_row(existing), None)
        systems = [mappers.account_from_row(r["account"]) for r in rows if r["role"] == "s"]
        recipient = _candidate([r for r in rows if r["role"] == "w"])
        return ProviderDeposit(None, recipient, {a.currency: a for a in systems})

    async def transaction(self, transaction_id: UUID) -> TransactionState | None:
        rows = await self._fetch(pg_reads.TRANSACTION, transaction_id)
        return _state(rows[0]) if rows else None

    async def cashout_attempt(
        self, phone_number: str, code_digests: Sequence[str]
    ) -> CashOutAttempt:
        rows = await self._fetch(pg_reads.CASHOUT_ATTEMPT, phone_number, list(code_digests))
        if not rows or rows[0]["user_id"] is None:
            return CashOutAttempt(None)
        matches: list[Transaction] = []
        pending: list[Transaction] = []
        accounts: dict[UUID, Account] = {}
        for row in rows:
            if row["transaction"] is None:
                continue
            state = _state(row)
            (matches if row["role"] == "m" else pending).append(state.transaction)
            accounts.update(state.accounts)
        by_id = lambda t: t.id.bytes  # noqa: E731
        return CashOutAttempt(
            rows[0]["user_id"],
            tuple(sorted(matches, key=by_id)),
            tuple(sorted(pending, key=by_id)),
            accounts,
        )

    async def due(self, now: datetime, limit: int) -> list[TransactionState]:
        return [_state(r) for r in await self._fetch(pg_reads.DUE, now, limit)]

    async def add_system_account(self, account: Account) -> Account:
        assert account.source is not None
        source = account.source.value
        await self._fetch(
            pg_reads.ADD_SYSTEM_ACCOUNT, account.id, account.currency, source, account.created_at
        )
        rows = await self._fetch(pg_reads.SYSTEM_ACCOUNT, source, account.currency)
        return mappers.account_from_row(rows[0]["account"])

    async def receipt(self, scope: str, key: str, now: datetime) -> StoredReceipt | None:
        rows = await self._fetch(pg_reads.RECEIPT, scope, key, now)
        return StoredReceipt(rows[0]["fingerprint"], bytes(rows[0]["receipt"])) if rows else None

    async def apply(self, write: LedgerWrite) -> Written:
        sql, args = statement(write)
        try:
            rows = await self._fetch(sql, *args)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate in RETRY_SQLSTATES:
                return Written.REFUSED
            raise
        row = rows[0]
        if not row["got"]:
            return Written.IN_FLIGHT
        if not row["claimed"]:
            return Written.DUPLICATE
        return Written.APPLIED if row["applied"] else Written.REFUSED

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
