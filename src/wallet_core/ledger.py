"""The double-entry ledger: accounts with four totals, two-phase transfers, immutable entries.

Every wallet feature is one of four movements (see docs/ledger-model.md): ``open_pending`` (hold),
``post_pending`` (settle a hold), ``void_pending`` (release a hold) and ``post_direct``
(a deposit, born completed). Each returns the new account states and the entries that explain
them, so that every account's totals can be recomputed from entries alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from wallet_core.errors import (
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    LedgerInvariantViolated,
    NotPending,
    SameWallet,
)
from wallet_core.money import MAX_MINOR_TOTAL


class AccountKind(StrEnum):
    WALLET = "wallet"
    SYSTEM = "system"


class FundingSource(StrEnum):
    PAYSEND = "paysend"
    BLF_ATM = "blf_atm"
    INTERNAL = "internal"
    MANUAL = "manual"


class TransactionType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER = "transfer"
    REVERSAL = "reversal"


#: What a reversal may reverse (a reversal itself never is).
REVERSIBLE_TYPES = frozenset(
    {TransactionType.DEPOSIT, TransactionType.WITHDRAWAL, TransactionType.TRANSFER}
)


class TransactionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not TransactionStatus.PENDING


VOID_STATUSES = frozenset(
    {
        TransactionStatus.REJECTED,
        TransactionStatus.CANCELLED,
        TransactionStatus.EXPIRED,
        TransactionStatus.FAILED,
    }
)


class Column(StrEnum):
    """The four totals an account keeps; an entry moves exactly one of them."""

    DEBITS_POSTED = "debits_posted"
    CREDITS_POSTED = "credits_posted"
    DEBITS_PENDING = "debits_pending"
    CREDITS_PENDING = "credits_pending"


@dataclass(frozen=True, slots=True)
class Account:
    """A wallet (owned by a user, may not go below zero) or a system account (may go negative)."""

    id: UUID
    kind: AccountKind
    currency: str
    created_at: datetime
    updated_at: datetime
    owner_id: UUID | None = None
    owner_username: str | None = None
    source: FundingSource | None = None
    is_active: bool = True
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    #: How many transfers this account is a side of: keeps "how many transactions involve my
    #: wallets" an O(1) question however long the history.
    transaction_count: int = 0

    @property
    def is_wallet(self) -> bool:
        return self.kind is AccountKind.WALLET

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def held(self) -> int:
        return self.debits_pending

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def pending_incoming(self) -> int:
        return self.credits_pending

    def total(self, column: Column) -> int:
        value: int = getattr(self, column.value)
        return value

    def moved(self, column: Column, delta: int, now: datetime) -> Account:
        new = self.total(column) + delta
        if new >= MAX_MINOR_TOTAL:
            raise InvalidAmount("The amount is too large for this account.")
        if new < 0:
            raise LedgerInvariantViolated(f"{column} of account {self.id} would become {new}")
        return replace(self, **{column.value: new}, updated_at=now)  # type: ignore[arg-type]

    def check_invariants(self) -> None:
        """A wallet never has a negative available balance; totals are never negative."""
        if min(self.debits_posted, self.credits_posted, self.debits_pending) < 0:
            raise LedgerInvariantViolated(f"negative total on account {self.id}")
        if self.credits_pending < 0:
            raise LedgerInvariantViolated(f"negative total on account {self.id}")
        if self.is_wallet and self.available < 0:
            raise LedgerInvariantViolated(f"wallet {self.id} would be overdrawn")


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a transaction as clients see it."""

    user_id: UUID
    username: str
    wallet_id: UUID


@dataclass(frozen=True, slots=True)
class Transaction:
    """A movement between two accounts: a deposit, a transfer or a cash-out (withdrawal)."""

    id: UUID
    type: TransactionType
    status: TransactionStatus
    amount: int
    currency: str
    funding_source: FundingSource
    debit_account_id: UUID
    credit_account_id: UUID
    reference: str
    created_at: datetime
    updated_at: datetime
    sender: Party | None = None
    recipient: Party | None = None
    description: str = ""
    provider_id: str | None = None
    expires_at: datetime | None = None
    completed_at: datetime | None = None
    code_digest: str | None = None
    failed_attempts: int = 0
    #: The client's own key/value strings, set at creation (see ``wallet_core.metadata``).
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: For a reversal, the transaction it reverses.
    reverses: UUID | None = None
    #: How much of this transaction its reversals have moved back so far.
    reversed_amount: int = 0

    @property
    def wallet_id(self) -> UUID:
        """The customer wallet the transaction is about: the sender's, or a deposit's target."""
        party = self.sender or self.recipient
        if party is None:  # pragma: no cover - every transaction has a customer side
            raise LedgerInvariantViolated(f"transfer {self.id} has no party")
        return party.wallet_id

    @property
    def counterparty_wallet_id(self) -> UUID | None:
        if self.sender is not None and self.recipient is not None:
            return self.recipient.wallet_id
        return None

    @property
    def party_user_ids(self) -> tuple[UUID, ...]:
        ids = [p.user_id for p in (self.sender, self.recipient) if p is not None]
        return tuple(dict.fromkeys(ids))

    def is_due(self, now: datetime) -> bool:
        return (
            self.status is TransactionStatus.PENDING
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def finish(self, status: TransactionStatus, now: datetime) -> Transaction:
        """The one state change a transfer ever makes: pending -> a terminal state."""
        if self.status is not TransactionStatus.PENDING:
            raise NotPending(f"Transaction {self.reference} is {self.status.value}, not pending.")
        if status is TransactionStatus.PENDING:
            raise LedgerInvariantViolated("a transfer can only leave the pending state")
        completed_at = now if status is TransactionStatus.COMPLETED else None
        return replace(self, status=status, updated_at=now, completed_at=completed_at)

    def with_failed_attempt(self, now: datetime) -> Transaction:
        return replace(self, failed_attempts=self.failed_attempts + 1, updated_at=now)


POSTED_COLUMNS = frozenset({Column.DEBITS_POSTED, Column.CREDITS_POSTED})


@dataclass(frozen=True, slots=True)
class Entry:
    """One immutable line of the ledger: ``delta`` applied to one total of one account.

    ``posted_at`` is the account's ``updated_at`` right after the write (strictly increasing per
    account); a posted line also carries ``balance_after``, the account's posted balance right
    after it (None on pending lines, which do not change the balance).
    """

    id: UUID
    transaction_id: UUID
    account_id: UUID
    column: Column
    delta: int
    posted_at: datetime
    balance_after: int | None = None

    @property
    def is_posted(self) -> bool:
        return self.column in POSTED_COLUMNS

    @property
    def amount(self) -> int:
        """The signed change of the account's posted balance: credits positive, debits negative."""
        if self.column is Column.CREDITS_POSTED:
            return self.delta
        if self.column is Column.DEBITS_POSTED:
            return -self.delta
        return 0


@dataclass(frozen=True, slots=True)
class Movement:
    """What a ledger operation decided: the new account states and the entries explaining them."""

    accounts: tuple[Account, ...]
    lines: tuple[tuple[UUID, Column, int], ...]

    def entries(self, transaction_id: UUID, ids: Sequence[UUID], now: datetime) -> list[Entry]:
        return [
            Entry(entry_id, transaction_id, account_id, column, delta, now)
            for entry_id, (account_id, column, delta) in zip(ids, self.lines, strict=True)
        ]


def _check_pair(debit: Account, credit: Account, amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount("The amount must be a positive integer of minor units.")
    if debit.id == credit.id:
        raise SameWallet("The source and destination wallet are the same.")
    if debit.currency != credit.currency:
        raise CurrencyMismatch(f"Cannot move {debit.currency} into a {credit.currency} wallet.")


def next_change_at(account: Account, now: datetime) -> datetime:
    """An account's ``updated_at`` strictly increases with every change, so its posted lines
    (whose ``posted_at`` is the account's ``updated_at`` after them) never share an instant and
    sort in posting order, even when the clocks of several processes disagree slightly."""
    return max(now, account.updated_at + timedelta(microseconds=1))


def _apply(
    now: datetime, lines: Sequence[tuple[Account, Column, int]], *, new_transfer: bool = False
) -> Movement:
    originals: dict[UUID, Account] = {}
    accounts: dict[UUID, Account] = {}
    for account, column, delta in lines:
        originals.setdefault(account.id, account)
        current = accounts.get(account.id, account)
        accounts[account.id] = current.moved(column, delta, now)
    accounts = {
        key: replace(
            a,
            transaction_count=a.transaction_count + (1 if new_transfer else 0),
            updated_at=next_change_at(originals[key], now),
        )
        for key, a in accounts.items()
    }
    for account in accounts.values():
        account.check_invariants()
    return Movement(
        accounts=tuple(accounts.values()),
        lines=tuple((a.id, c, d) for a, c, d in lines),
    )


def open_pending(debit: Account, credit: Account, amount: int, now: datetime) -> Movement:
    """Hold ``amount`` on ``debit`` and show it as pending on ``credit``."""
    _check_pair(debit, credit, amount)
    if debit.is_wallet and debit.available < amount:
        raise InsufficientFunds(
            f"Insufficient funds: available {debit.available}, requested {amount} (minor units)"
        )
    return _apply(
        now,
        [(debit, Column.DEBITS_PENDING, amount), (credit, Column.CREDITS_PENDING, amount)],
        new_transfer=True,
    )


def post_pending(debit: Account, credit: Account, amount: int, now: datetime) -> Movement:
    """Settle a hold: the pending amounts become posted ones, atomically on both sides."""
    _check_pair(debit, credit, amount)
    return _apply(
        now,
        [
            (debit, Column.DEBITS_PENDING, -amount),
            (debit, Column.DEBITS_POSTED, amount),
            (credit, Column.CREDITS_PENDING, -amount),
            (credit, Column.CREDITS_POSTED, amount),
        ],
    )


def void_pending(debit: Account, credit: Account, amount: int, now: datetime) -> Movement:
    """Release a hold; nothing else moves."""
    _check_pair(debit, credit, amount)
    return _apply(
        now,
        [(debit, Column.DEBITS_PENDING, -amount), (credit, Column.CREDITS_PENDING, -amount)],
    )


def post_direct(debit: Account, credit: Account, amount: int, now: datetime) -> Movement:
    """A single-phase posted movement (deposits)."""
    _check_pair(debit, credit, amount)
    if debit.is_wallet and debit.available < amount:
        raise InsufficientFunds("Insufficient funds.")
    return _apply(
        now,
        [(debit, Column.DEBITS_POSTED, amount), (credit, Column.CREDITS_POSTED, amount)],
        new_transfer=True,
    )
