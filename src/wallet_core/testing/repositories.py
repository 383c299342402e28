"""In-memory repositories of the ledger's aggregates: users, accounts and transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from wallet_core.errors import AlreadyExists
from wallet_core.ledger import (
    Account,
    FundingSource,
    Transaction,
    TransactionStatus,
)
from wallet_core.queries import (
    TransactionFilter,
    TransactionQuery,
    UserQuery,
    WalletFilter,
    WalletQuery,
    after_cursor,
    sort_rows,
    transaction_sort_value,
    user_sort_value,
    wallet_sort_value,
)
from wallet_core.testing.overlay import Overlay
from wallet_core.users import User

T = TypeVar("T")


def _contains(haystack: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in haystack.lower()


class MemoryUserRepository:
    def __init__(self, table: Overlay[UUID, User]) -> None:
        self._t = table

    async def add(self, user: User) -> None:
        for other in self._t.values():
            if other.email == user.email:
                raise AlreadyExists("A user with this email already exists.")
            if other.username.lower() == user.username.lower():
                raise AlreadyExists("A user with this username already exists.")
            if other.phone_number == user.phone_number:
                raise AlreadyExists("A user with this phone number already exists.")
        self._t.put(user.id, user)

    async def update(self, user: User) -> None:
        self._t.put(user.id, user)

    async def get(self, user_id: UUID) -> User | None:
        return self._t.get(user_id)

    async def lock(self, user_id: UUID) -> User | None:
        return self._t.get(user_id)

    async def find_by_login(self, login: str) -> User | None:
        login = login.lower()
        return next((u for u in self._t.values() if login in (u.email, u.username.lower())), None)

    async def find_by_phone(self, phone_number: str) -> User | None:
        return next((u for u in self._t.values() if u.phone_number == phone_number), None)

    async def find_by_username(self, username: str) -> User | None:
        name = username.lower()
        return next((u for u in self._t.values() if u.username.lower() == name), None)

    def _matching(self, query: UserQuery) -> list[User]:
        f = query.filter
        return [
            u
            for u in self._t.values()
            if _contains(u.email, f.email)
            and _contains(u.first_name, f.first_name)
            and _contains(u.last_name, f.last_name)
            and (f.is_staff is None or u.is_staff == f.is_staff)
            and (f.is_active is None or u.is_active == f.is_active)
        ]

    async def search(self, query: UserQuery) -> list[User]:
        return _page(self._matching(query), query, user_sort_value, lambda u: u.id)

    async def count(self, query: UserQuery) -> int:
        return len(self._matching(query))


def _page(
    rows: Iterable[T],
    query: UserQuery | WalletQuery | TransactionQuery,
    value: Callable[[T, str], object],
    id_of: Callable[[T], UUID],
) -> list[T]:
    ordered = sort_rows(rows, query.ordering, value, id_of)  # type: ignore[arg-type]
    if query.page.cursor is not None:
        ordered = after_cursor(ordered, query.page.cursor, query.ordering, value, id_of)  # type: ignore[arg-type]
    start = query.page.offset
    return ordered[start : start + query.page.page_size + 1]


class MemoryAccountRepository:
    def __init__(
        self, table: Overlay[UUID, Account], new_id: Callable[[], UUID], now: Callable[[], datetime]
    ) -> None:
        self._t = table
        self._new_id = new_id
        self._now = now

    async def add(self, account: Account) -> None:
        for other in self._t.values():
            if account.source is not None and (other.source, other.currency) == (
                account.source,
                account.currency,
            ):
                raise AlreadyExists(f"The {account.source} account exists already.")
            if (
                account.is_wallet
                and other.is_wallet
                and other.owner_id == account.owner_id
                and other.currency == account.currency
            ):
                raise AlreadyExists(f"You already have a {account.currency} wallet.")
        self._t.put(account.id, account)

    async def get(self, account_id: UUID) -> Account | None:
        return self._t.get(account_id)

    async def lock(self, account_ids: Iterable[UUID]) -> dict[UUID, Account]:
        found = {i: self._t.get(i) for i in sorted(set(account_ids), key=lambda u: u.bytes)}
        return {i: a for i, a in found.items() if a is not None}

    async def save(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            self._t.put(account.id, account)

    async def wallets_of(self, user_id: UUID) -> list[Account]:
        mine = [a for a in self._t.values() if a.is_wallet and a.owner_id == user_id]
        return sorted(mine, key=lambda a: (a.created_at, a.id.bytes))

    async def wallet_of(self, user_id: UUID, currency: str) -> Account | None:
        return next((a for a in await self.wallets_of(user_id) if a.currency == currency), None)

    async def find_system(self, source: FundingSource, currency: str) -> Account | None:
        return next(
            (a for a in self._t.values() if a.source is source and a.currency == currency), None
        )

    def _matching(self, f: WalletFilter) -> list[Account]:
        return [
            a
            for a in self._t.values()
            if a.is_wallet
            and (f.viewer_id is None or a.owner_id == f.viewer_id)
            and (f.owner_id is None or a.owner_id == f.owner_id)
            and (f.currency is None or a.currency == f.currency)
            and (f.balance_min is None or a.balance >= f.balance_min)
            and (f.balance_max is None or a.balance <= f.balance_max)
            and (f.created_after is None or a.created_at >= f.created_after)
            and (f.created_before is None or a.created_at <= f.created_before)
            and (f.is_active is None or a.is_active == f.is_active)
        ]

    async def search(self, query: WalletQuery) -> list[Account]:
        return _page(self._matching(query.filter), query, wallet_sort_value, lambda a: a.id)

    async def count(self, query: WalletQuery) -> int:
        return len(self._matching(query.filter))

    async def all_accounts(self) -> list[Account]:
        return list(self._t.values())


def transaction_matches(t: Transaction, f: TransactionFilter) -> bool:
    """The transaction filter semantics (the SQL repository implements the same)."""
    parties = t.party_user_ids
    sender = t.sender.user_id if t.sender else None
    recipient = t.recipient.user_id if t.recipient else None
    if f.viewer_id is not None and f.viewer_id not in parties:
        return False
    if any(t.metadata.get(key) != value for key, value in f.metadata):
        return False
    if f.amount_min is not None and t.amount < f.amount_min:
        return False
    if f.amount_max is not None and t.amount > f.amount_max:
        return False
    if f.types and t.type not in f.types:
        return False
    if f.statuses and t.status not in f.statuses:
        return False
    if f.funding_sources and t.funding_source not in f.funding_sources:
        return False
    if f.currency is not None and t.currency != f.currency:
        return False
    if f.wallet_id is not None and f.wallet_id not in (t.debit_account_id, t.credit_account_id):
        return False
    if f.text is not None and not (
        _contains(t.reference, f.text) or _contains(t.description, f.text)
    ):
        return False
    if f.created_after is not None and t.created_at < f.created_after:
        return False
    if f.created_before is not None and t.created_at > f.created_before:
        return False
    if f.expires_after is not None and (t.expires_at is None or t.expires_at < f.expires_after):
        return False
    if f.expires_before is not None and (t.expires_at is None or t.expires_at > f.expires_before):
        return False
    if f.is_expired is not None:
        expired = t.status is TransactionStatus.EXPIRED or (f.now is not None and t.is_due(f.now))
        if expired != f.is_expired:
            return False
    if f.sender_id is not None and sender != f.sender_id:
        return False
    if f.recipient_id is not None and recipient != f.recipient_id:
        return False
    if f.involving_id is not None and f.involving_id not in parties:
        return False
    if f.direction == "in" and recipient != f.caller_id:
        return False
    return not (f.direction == "out" and sender != f.caller_id)


class MemoryTransactionRepository:
    def __init__(self, table: Overlay[UUID, Transaction], accounts: Overlay[UUID, Account]) -> None:
        self._t = table
        self._accounts = accounts

    async def add(self, transaction: Transaction) -> None:
        for t in self._t.values():
            if t.reference == transaction.reference:
                raise AlreadyExists("Reference collision.")
            if transaction.provider_id is not None and (t.funding_source, t.provider_id) == (
                transaction.funding_source,
                transaction.provider_id,
            ):
                raise AlreadyExists("This provider transaction was credited already.")
        self._t.put(transaction.id, transaction)

    async def update(self, transaction: Transaction) -> None:
        self._t.put(transaction.id, transaction)

    async def get(self, transaction_id: UUID) -> Transaction | None:
        return self._t.get(transaction_id)

    async def lock(self, transaction_id: UUID) -> Transaction | None:
        return self._t.get(transaction_id)

    async def by_provider_id(self, source: FundingSource, provider_id: str) -> Transaction | None:
        return next(
            (
                t
                for t in self._t.values()
                if t.funding_source is source and t.provider_id == provider_id
            ),
            None,
        )

    async def withdrawals_of(
        self,
        wallet_ids: Sequence[UUID],
        *,
        code_digests: Sequence[str] | None = None,
        pending_only: bool,
    ) -> list[Transaction]:
        wallets = set(wallet_ids)
        found = [
            t
            for t in self._t.values()
            if t.debit_account_id in wallets
            and t.code_digest is not None
            and (code_digests is None or t.code_digest in code_digests)
            and (not pending_only or t.status is TransactionStatus.PENDING)
        ]
        return sorted(found, key=lambda t: t.id.bytes)

    async def lock_due(self, now: datetime, limit: int) -> list[Transaction]:
        due = [t for t in self._t.values() if t.is_due(now)]
        return sorted(due, key=lambda t: t.id.bytes)[:limit]

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        totals: dict[UUID, tuple[int, int]] = {}
        for t in self._t.values():
            if t.status is TransactionStatus.PENDING:
                d = totals.get(t.debit_account_id, (0, 0))
                totals[t.debit_account_id] = (d[0] + t.amount, d[1])
                c = totals.get(t.credit_account_id, (0, 0))
                totals[t.credit_account_id] = (c[0], c[1] + t.amount)
        return totals

    def _matching(self, f: TransactionFilter) -> list[Transaction]:
        return [t for t in self._t.values() if transaction_matches(t, f)]

    async def search(self, query: TransactionQuery) -> list[Transaction]:
        return _page(self._matching(query.filter), query, transaction_sort_value, lambda t: t.id)

    async def count(self, query: TransactionQuery) -> int:
        if query.filter.is_viewer_only:
            return sum(
                a.transaction_count
                for a in self._accounts.values()
                if a.is_wallet and a.owner_id == query.filter.viewer_id
            )
        return len(self._matching(query.filter))

    async def transaction_counts(self) -> dict[UUID, int]:
        counts: dict[UUID, int] = {}
        for t in self._t.values():
            for account_id in (t.debit_account_id, t.credit_account_id):
                counts[account_id] = counts.get(account_id, 0) + 1
        return counts
