"""What one read gives a money use case: everything its decision needs, fetched at once.

Storage adapters fill these in a single query where they can (PostgreSQL) or a few (SQLite, the
in-memory fakes); the use cases decide from them with the ledger's pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from wallet_core.ledger import Account, Transaction


@dataclass(frozen=True, slots=True)
class RecipientQuery:
    """The ways a transfer's ``recipient`` reference may name someone (None: not this way)."""

    wallet_id: UUID | None = None
    phone_number: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A user a recipient reference may mean, with their wallets, oldest first."""

    user_id: UUID
    username: str
    is_active: bool
    wallets: tuple[Account, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionParties:
    """The sender's wallets, and who each reading of the recipient reference finds."""

    sender_wallets: tuple[Account, ...]
    named_wallet: Account | None = None
    #: The owner of ``named_wallet``.
    by_wallet: Candidate | None = None
    by_phone: Candidate | None = None
    by_username: Candidate | None = None


@dataclass(frozen=True, slots=True)
class WalletsAndSinks:
    """A user's wallets (oldest first) and a funding source's system accounts by currency."""

    wallets: tuple[Account, ...]
    systems: Mapping[str, Account] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderDeposit:
    """For a provider's deposit notice: a transaction it already made, or whom to credit."""

    existing: Transaction | None
    recipient: Candidate | None
    systems: Mapping[str, Account] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransactionState:
    """A transaction and the two accounts it moves between."""

    transaction: Transaction
    debit: Account
    credit: Account

    @property
    def accounts(self) -> dict[UUID, Account]:
        return {self.debit.id: self.debit, self.credit.id: self.credit}


@dataclass(frozen=True, slots=True)
class CashOutAttempt:
    """For a code the ATM network presents: its owner, the cash-outs the code matches (any
    status), and the owner's pending cash-outs, with the accounts they move between."""

    user_id: UUID | None
    matches: tuple[Transaction, ...] = ()
    pending: tuple[Transaction, ...] = ()
    accounts: Mapping[UUID, Account] = field(default_factory=dict)

    def state(self, transaction: Transaction) -> TransactionState:
        return TransactionState(
            transaction,
            self.accounts[transaction.debit_account_id],
            self.accounts[transaction.credit_account_id],
        )
