"""Statements: a wallet's posted lines with running balances, its balance at an instant, and the
summary of an interval. Pending holds never appear here (they change ``available_balance``, not
the posted balance a statement explains)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from wallet_core.ledger import Account, Entry, Transaction, TransactionType
from wallet_core.queries import Ordering, PageRequest, SortValue

LINE_ORDERINGS: Mapping[str, str] = {"posted_at": "posted_at"}
DEFAULT_LINE_ORDERING = (Ordering("posted_at", descending=True),)


@dataclass(frozen=True, slots=True)
class Line:
    """One posted line of a wallet, as its statement shows it."""

    id: UUID
    transaction_id: UUID
    type: TransactionType
    reference: str
    description: str
    #: Signed minor units: a credit positive, a debit negative.
    amount: int
    balance_after: int
    posted_at: datetime
    currency: str


def line_of(entry: Entry, transaction: Transaction) -> Line:
    assert entry.balance_after is not None, "only posted entries are lines"
    return Line(
        id=entry.id,
        transaction_id=transaction.id,
        type=transaction.type,
        reference=transaction.reference,
        description=transaction.description,
        amount=entry.amount,
        balance_after=entry.balance_after,
        posted_at=entry.posted_at,
        currency=transaction.currency,
    )


def line_sort_value(line: Line, name: str) -> SortValue:
    if name == "posted_at":
        return line.posted_at
    raise KeyError(name)


@dataclass(frozen=True, slots=True)
class LineQuery:
    """An account's posted lines with ``posted_after <= posted_at < posted_before``."""

    account_id: UUID
    posted_after: datetime | None = None
    posted_before: datetime | None = None
    ordering: tuple[Ordering, ...] = DEFAULT_LINE_ORDERING
    page: PageRequest = field(default_factory=PageRequest)


@dataclass(frozen=True, slots=True)
class IntervalTotals:
    credits: int = 0
    debits: int = 0
    count: int = 0


@dataclass(frozen=True, slots=True)
class BalanceAt:
    wallet: Account
    at: datetime
    balance: int


@dataclass(frozen=True, slots=True)
class Statement:
    """``closing_balance = opening_balance + total_credits - total_debits`` by construction."""

    wallet: Account
    start: datetime
    end: datetime
    opening_balance: int
    totals: IntervalTotals

    @property
    def closing_balance(self) -> int:
        return self.opening_balance + self.totals.credits - self.totals.debits


@dataclass(frozen=True, slots=True)
class RunningBalance:
    """Per account, what the audit reads off its posted lines in posting order."""

    lines: int
    #: Lines whose ``balance_after`` differs from the sum of the amounts so far.
    mismatched: int
    #: Lines sharing their instant with another line of the account (the balance at that
    #: instant would be ambiguous).
    repeated: int
    #: The newest line's ``balance_after`` (None without lines).
    last: int | None


def running_balance(entries: list[Entry]) -> RunningBalance:
    """The check of one account's posted lines (any order given)."""
    ordered = sorted((e for e in entries if e.is_posted), key=lambda e: (e.posted_at, e.id.bytes))
    total = mismatched = 0
    for entry in ordered:
        total += entry.amount
        if entry.balance_after != total:
            mismatched += 1
    repeated = len(ordered) - len({e.posted_at for e in ordered})
    last = ordered[-1].balance_after if ordered else None
    return RunningBalance(len(ordered), mismatched, repeated, last)


def check_running_balances(
    accounts: list[Account], running: Mapping[UUID, RunningBalance]
) -> list[str]:
    """LEDGER invariant 7: every line's ``balance_after`` is the running sum, and the last one
    is the account's balance."""
    problems = []
    for account in accounts:
        found = running.get(account.id, RunningBalance(0, 0, 0, None))
        if found.mismatched:
            problems.append(
                f"account {account.id}: {found.mismatched} of {found.lines} lines have a "
                "balance_after that is not the running sum"
            )
        if found.repeated:
            problems.append(f"account {account.id}: {found.repeated} lines share an instant")
        if (found.last or 0) != account.balance:
            problems.append(
                f"account {account.id}: last balance_after is {found.last}, "
                f"balance is {account.balance}"
            )
    return problems
