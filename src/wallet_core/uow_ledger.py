"""The ``Ledger`` port on top of any ``Storage``: reads through the repositories, and each write
as one unit of work that locks what it touches, checks the guards in Python
(:func:`~wallet_core.journal.refusal`) and applies everything, or rolls back.

This is the simple implementation, for storages whose units of work are serialised anyway: the
embedded SQLite database (one writer at a time) and the in-memory fakes. PostgreSQL has its own
adapter that reads in one query and writes in one guarded statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from wallet_core.errors import AlreadyExists
from wallet_core.journal import (
    LedgerWrite,
    StoredReceipt,
    Written,
    moved,
    refusal,
    with_running_balances,
)
from wallet_core.ledger import Account, FundingSource, Transaction
from wallet_core.ports import Storage, UnitOfWork
from wallet_core.snapshots import (
    Candidate,
    CashOutAttempt,
    ProviderDeposit,
    RecipientQuery,
    TransactionParties,
    TransactionState,
    WalletsAndSinks,
)
from wallet_core.users import User


class _Refused(Exception):
    """Raised inside a unit of work to roll it back when a guard fails."""

    def __init__(self, written: Written) -> None:
        super().__init__(written.value)
        self.written = written


async def _candidate(uow: UnitOfWork, user: User | None) -> Candidate | None:
    if user is None:
        return None
    wallets = tuple(await uow.accounts.wallets_of(user.id))
    return Candidate(user.id, user.username, user.is_active, wallets)


async def _systems(
    uow: UnitOfWork, source: FundingSource, currencies: set[str]
) -> dict[str, Account]:
    found = {c: await uow.accounts.find_system(source, c) for c in sorted(currencies)}
    return {c: a for c, a in found.items() if a is not None}


async def _state(uow: UnitOfWork, transaction: Transaction) -> TransactionState:
    debit = await uow.accounts.get(transaction.debit_account_id)
    credit = await uow.accounts.get(transaction.credit_account_id)
    assert debit is not None and credit is not None
    return TransactionState(transaction, debit, credit)


class UnitOfWorkLedger:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def transaction_parties(
        self, sender_id: UUID, recipient: RecipientQuery
    ) -> TransactionParties:
        async def work(uow: UnitOfWork) -> TransactionParties:
            sender_wallets = tuple(await uow.accounts.wallets_of(sender_id))
            named = by_wallet = by_phone = by_username = None
            if recipient.wallet_id is not None:
                named = await uow.accounts.get(recipient.wallet_id)
                if named is not None and named.owner_id is not None:
                    by_wallet = await _candidate(uow, await uow.users.get(named.owner_id))
            if recipient.phone_number is not None:
                by_phone = await _candidate(
                    uow, await uow.users.find_by_phone(recipient.phone_number)
                )
            if recipient.username is not None:
                by_username = await _candidate(
                    uow, await uow.users.find_by_username(recipient.username)
                )
            return TransactionParties(sender_wallets, named, by_wallet, by_phone, by_username)

        return await self._storage.run_read(work)

    async def wallets_and_sinks(self, user_id: UUID, source: FundingSource) -> WalletsAndSinks:
        async def work(uow: UnitOfWork) -> WalletsAndSinks:
            wallets = tuple(await uow.accounts.wallets_of(user_id))
            systems = await _systems(uow, source, {w.currency for w in wallets})
            return WalletsAndSinks(wallets, systems)

        return await self._storage.run_read(work)

    async def wallet_and_source(
        self, wallet_id: UUID, source: FundingSource
    ) -> tuple[Account | None, Account | None]:
        async def work(uow: UnitOfWork) -> tuple[Account | None, Account | None]:
            wallet = await uow.accounts.get(wallet_id)
            if wallet is None:
                return None, None
            return wallet, await uow.accounts.find_system(source, wallet.currency)

        return await self._storage.run_read(work)

    async def provider_deposit(
        self, source: FundingSource, provider_id: str, phone_number: str
    ) -> ProviderDeposit:
        async def work(uow: UnitOfWork) -> ProviderDeposit:
            existing = await uow.transactions.by_provider_id(source, provider_id)
            if existing is not None:
                return ProviderDeposit(existing, None)
            user = await _candidate(uow, await uow.users.find_by_phone(phone_number))
            currencies = {w.currency for w in user.wallets} if user else set()
            return ProviderDeposit(None, user, await _systems(uow, source, currencies))

        return await self._storage.run_read(work)

    async def transaction(self, transaction_id: UUID) -> TransactionState | None:
        async def work(uow: UnitOfWork) -> TransactionState | None:
            transaction = await uow.transactions.get(transaction_id)
            return None if transaction is None else await _state(uow, transaction)

        return await self._storage.run_read(work)

    async def cashout_attempt(
        self, phone_number: str, code_digests: Sequence[str]
    ) -> CashOutAttempt:
        async def work(uow: UnitOfWork) -> CashOutAttempt:
            user = await uow.users.find_by_phone(phone_number)
            if user is None:
                return CashOutAttempt(None)
            wallet_ids = [w.id for w in await uow.accounts.wallets_of(user.id)]
            matches = await uow.transactions.withdrawals_of(
                wallet_ids, code_digests=code_digests, pending_only=False
            )
            pending = await uow.transactions.withdrawals_of(wallet_ids, pending_only=True)
            accounts: dict[UUID, Account] = {}
            for transaction in [*matches, *pending]:
                accounts.update((await _state(uow, transaction)).accounts)
            return CashOutAttempt(user.id, tuple(matches), tuple(pending), accounts)

        return await self._storage.run_read(work)

    async def due(self, now: datetime, limit: int) -> list[TransactionState]:
        async def work(uow: UnitOfWork) -> list[TransactionState]:
            return [await _state(uow, t) for t in await uow.transactions.lock_due(now, limit)]

        return await self._storage.run_read(work)

    async def add_system_account(self, account: Account) -> Account:
        assert account.source is not None
        source = account.source

        async def work(uow: UnitOfWork) -> Account:
            existing = await uow.accounts.find_system(source, account.currency)
            if existing is not None:
                return existing
            await uow.accounts.add(account)
            return account

        try:
            return await self._storage.run(work)
        except AlreadyExists:  # created meanwhile by someone else
            return await self._storage.run(work)

    async def receipt(self, scope: str, key: str, now: datetime) -> StoredReceipt | None:
        async def work(uow: UnitOfWork) -> StoredReceipt | None:
            return await uow.receipts.get(scope, key, now)

        return await self._storage.run_read(work)

    async def apply(self, write: LedgerWrite) -> Written:
        async def work(uow: UnitOfWork) -> Written:
            if write.receipt is not None:
                claimed = await uow.receipts.claim(write.receipt)
                if claimed is not Written.APPLIED:
                    raise _Refused(claimed)
            transactions: dict[UUID, Transaction] = {}
            for change in write.changed:
                current = await uow.transactions.lock(change.before.id)
                if current is not None:
                    transactions[current.id] = current
            deltas = write.deltas()
            accounts = await uow.accounts.lock(deltas)
            if refusal(write, accounts, transactions) is not None:
                raise _Refused(Written.REFUSED)
            after = {i: moved(accounts[i], d, write.now) for i, d in deltas.items()}
            await uow.accounts.save(list(after.values()))
            for transaction in write.created:
                await uow.transactions.add(transaction)
            for change in write.changed:
                await uow.transactions.update(change.after)
            await uow.entries.add_many(with_running_balances(write.entries, after))
            await uow.outbox.add_many(write.notifications)
            await uow.events.add_many(write.events)
            return Written.APPLIED

        try:
            return await self._storage.run(work)
        except _Refused as refused:
            return refused.written
        except AlreadyExists:  # a provider id (or reference) another write took first
            return Written.REFUSED
