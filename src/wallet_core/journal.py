"""What a money use case hands to storage: one explicit write, and what came of it.

The core reads what it needs once, decides with the ledger's pure functions, and hands storage a
:class:`LedgerWrite`: the transactions it creates or changes, the entries that explain every
change of an account's totals, the notifications and events to record, and the receipt of the
idempotency key. Storage applies all of it atomically, or nothing, under **guards** that re-assert
what the decision relied on (:func:`refusal`): every account it moves still exists, every wallet
keeps a non-negative available balance, wallets that had to be active still are, and every changed
transaction is still in the state it was read in (and unexpired, where that mattered). Database
constraints back the same rules up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING
from uuid import UUID

from wallet_core.errors import LedgerInvariantViolated
from wallet_core.ledger import POSTED_COLUMNS, Account, Column, Entry, Transaction, next_change_at
from wallet_core.money import MAX_MINOR_TOTAL
from wallet_core.notifications import Notification

if TYPE_CHECKING:
    from wallet_core.events import Event

POSTED = POSTED_COLUMNS


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of the first request with an idempotency key, stored with the change it caused.

    ``body`` is opaque to the core: whoever called the use case sealed it (the HTTP layer stores
    the encrypted status and body it answered).
    """

    scope: str
    key: str
    fingerprint: str
    body: bytes
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    fingerprint: str
    body: bytes


@dataclass(frozen=True, slots=True)
class TransactionChange:
    """A transaction moving from ``before`` (as it was read) to ``after``.

    The guard: the stored row still has ``before``'s status, failed attempts and reversed amount,
    and, when ``unexpired_at`` is set, its expiry is after that instant.
    """

    before: Transaction
    after: Transaction
    unexpired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deltas:
    """What one write adds to one account's totals."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    transaction_count: int = 0

    def plus(self, column: Column, delta: int) -> Deltas:
        values = {c.value: getattr(self, c.value) for c in Column}
        values[column.value] += delta
        return Deltas(**values, transaction_count=self.transaction_count)

    def counted(self) -> Deltas:
        values = {c.value: getattr(self, c.value) for c in Column}
        return Deltas(**values, transaction_count=self.transaction_count + 1)


@dataclass(frozen=True, slots=True)
class LedgerWrite:
    now: datetime
    created: tuple[Transaction, ...] = ()
    changed: tuple[TransactionChange, ...] = ()
    entries: tuple[Entry, ...] = ()
    notifications: tuple[Notification, ...] = ()
    #: Wallets that must still be active for the write to apply.
    active: frozenset[UUID] = frozenset()
    receipt: Receipt | None = None
    #: What integrators are told about this write (see :mod:`wallet_core.events`).
    events: tuple[Event, ...] = field(default=())

    def __post_init__(self) -> None:
        posted: set[UUID] = set()
        for entry in self.entries:
            if entry.column in POSTED:
                if entry.account_id in posted:
                    raise LedgerInvariantViolated(
                        f"two posted lines on account {entry.account_id} in one write"
                    )
                posted.add(entry.account_id)

    @property
    def is_empty(self) -> bool:
        return not (
            self.created
            or self.changed
            or self.entries
            or self.notifications
            or self.receipt
            or self.events
        )

    def deltas(self) -> dict[UUID, Deltas]:
        """Per account, the sum of its entries' deltas and the new transactions it is a side of."""
        result: dict[UUID, Deltas] = {}
        for entry in self.entries:
            result[entry.account_id] = result.get(entry.account_id, Deltas()).plus(
                entry.column, entry.delta
            )
        for transaction in self.created:
            for side in (transaction.debit_account_id, transaction.credit_account_id):
                result[side] = result.get(side, Deltas()).counted()
        return dict(sorted(result.items(), key=lambda item: item[0].bytes))

    @property
    def movements(self) -> tuple[Transaction, ...]:
        """The transactions this write creates or moves to another status."""
        changed = (c.after for c in self.changed if c.after.status is not c.before.status)
        return (*self.created, *changed)

    def with_receipt(self, receipt: Receipt | None) -> LedgerWrite:
        return replace(self, receipt=receipt)


class Written(Enum):
    """What storage did with a write."""

    APPLIED = "applied"
    #: A guard failed: what the decision relied on has changed; nothing was written.
    REFUSED = "refused"
    #: The idempotency key already holds another request's outcome; nothing was written.
    DUPLICATE = "duplicate"
    #: The idempotency key's first request is still running; nothing was written.
    IN_FLIGHT = "in_flight"


def moved(account: Account, deltas: Deltas, now: datetime) -> Account:
    """``account`` after ``deltas``, without any check (see :func:`refusal`)."""
    return replace(
        account,
        debits_posted=account.debits_posted + deltas.debits_posted,
        credits_posted=account.credits_posted + deltas.credits_posted,
        debits_pending=account.debits_pending + deltas.debits_pending,
        credits_pending=account.credits_pending + deltas.credits_pending,
        transaction_count=account.transaction_count + deltas.transaction_count,
        updated_at=next_change_at(account, now),
    )


def with_running_balances(
    entries: Iterable[Entry], accounts_after: Mapping[UUID, Account]
) -> tuple[Entry, ...]:
    """The entries as stored: each posted at its account's new ``updated_at`` and, when posted,
    carrying the account's posted balance after the write (one posted line per account per
    write, so that is the balance right after the line)."""
    result = []
    for entry in entries:
        after = accounts_after[entry.account_id]
        balance = after.balance if entry.is_posted else None
        result.append(replace(entry, posted_at=after.updated_at, balance_after=balance))
    return tuple(result)


def refusal(
    write: LedgerWrite,
    accounts: Mapping[UUID, Account],
    transactions: Mapping[UUID, Transaction],
) -> str | None:
    """Why ``write`` must not apply to the current ``accounts`` and ``transfers`` (None: it may).

    This is the guard every storage adapter enforces; the PostgreSQL adapter states the same
    conditions in SQL.
    """
    for change in write.changed:
        current = transactions.get(change.before.id)
        if current is None:
            return f"transaction {change.before.id} is gone"
        if (current.status, current.failed_attempts, current.reversed_amount) != (
            change.before.status,
            change.before.failed_attempts,
            change.before.reversed_amount,
        ):
            return f"transaction {current.id} changed since it was read"
        if (
            change.unexpired_at is not None
            and current.expires_at is not None
            and current.expires_at <= change.unexpired_at
        ):
            return f"transaction {current.id} has expired"
    for account_id, deltas in write.deltas().items():
        account = accounts.get(account_id)
        if account is None:
            return f"account {account_id} is gone"
        if account_id in write.active and account.is_wallet and not account.is_active:
            return f"wallet {account_id} is frozen"
        after = moved(account, deltas, write.now)
        totals = (after.debits_posted, after.credits_posted, after.debits_pending)
        if min(*totals, after.credits_pending) < 0:
            return f"account {account_id} would have a negative total"
        if max(*totals, after.credits_pending) >= MAX_MINOR_TOTAL:
            return f"account {account_id} would overflow"
        if after.is_wallet and after.available < 0:
            return f"wallet {account_id} has insufficient funds"
    return None


def touched_users(transactions: Iterable[Transaction]) -> tuple[UUID, ...]:
    """The users whose cached transaction lists a change to these transactions affects."""
    return tuple(dict.fromkeys(u for t in transactions for u in t.party_user_ids))
