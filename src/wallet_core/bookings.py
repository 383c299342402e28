"""The ledger's factory: each operation returns the transaction as it now stands and the
movement that explains it (the accounts' new totals and the entry lines), built in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from wallet_core.errors import LedgerInvariantViolated
from wallet_core.ledger import (
    VOID_STATUSES,
    Account,
    Entry,
    FundingSource,
    Movement,
    Party,
    Transaction,
    TransactionStatus,
    TransactionType,
    open_pending,
    post_direct,
    post_pending,
    void_pending,
)


@dataclass(frozen=True, slots=True)
class Booking:
    """A ledger operation's result: the transaction after it, and the movement explaining it."""

    transaction: Transaction
    movement: Movement

    def entries(self, ids: Sequence[UUID]) -> list[Entry]:
        return self.movement.entries(self.transaction.id, ids, self.transaction.updated_at)


def party_of(wallet: Account) -> Party:
    if wallet.owner_id is None or wallet.owner_username is None:
        raise LedgerInvariantViolated(f"account {wallet.id} is not a wallet")
    return Party(wallet.owner_id, wallet.owner_username, wallet.id)


def hold(
    *,
    id: UUID,
    type: TransactionType,
    funding_source: FundingSource,
    debit: Account,
    credit: Account,
    amount: int,
    reference: str,
    now: datetime,
    expires_at: datetime,
    description: str = "",
    code_digest: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Booking:
    """A pending transaction (a transfer, or a cash-out toward the ATM sink) and its hold."""
    movement = open_pending(debit, credit, amount, now)
    transaction = Transaction(
        id=id,
        type=type,
        status=TransactionStatus.PENDING,
        amount=amount,
        currency=debit.currency,
        funding_source=funding_source,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        reference=reference,
        created_at=now,
        updated_at=now,
        sender=party_of(debit),
        recipient=party_of(credit) if credit.is_wallet else None,
        description=description,
        expires_at=expires_at,
        code_digest=code_digest,
        metadata=dict(metadata or {}),
    )
    return Booking(transaction, movement)


def credit_from_source(
    *,
    id: UUID,
    source: Account,
    wallet: Account,
    amount: int,
    reference: str,
    now: datetime,
    description: str = "",
    provider_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Booking:
    """A deposit: born completed, from a funding source's system account into a wallet."""
    if source.source is None:
        raise LedgerInvariantViolated(f"account {source.id} is not a funding source")
    movement = post_direct(source, wallet, amount, now)
    transaction = Transaction(
        id=id,
        type=TransactionType.DEPOSIT,
        status=TransactionStatus.COMPLETED,
        amount=amount,
        currency=wallet.currency,
        funding_source=source.source,
        debit_account_id=source.id,
        credit_account_id=wallet.id,
        reference=reference,
        created_at=now,
        updated_at=now,
        recipient=party_of(wallet),
        description=description,
        provider_id=provider_id,
        completed_at=now,
        metadata=dict(metadata or {}),
    )
    return Booking(transaction, movement)


def settle(transaction: Transaction, debit: Account, credit: Account, now: datetime) -> Booking:
    """Post a pending transaction (an accepted transfer, a verified cash-out)."""
    movement = post_pending(debit, credit, transaction.amount, now)
    return Booking(transaction.finish(TransactionStatus.COMPLETED, now), movement)


def release(
    transaction: Transaction,
    debit: Account,
    credit: Account,
    status: TransactionStatus,
    now: datetime,
) -> Booking:
    """Void a pending transaction's hold and give it its terminal ``status``."""
    if status not in VOID_STATUSES:
        raise LedgerInvariantViolated(f"{status} does not release a hold")
    movement = void_pending(debit, credit, transaction.amount, now)
    return Booking(transaction.finish(status, now), movement)


def reverse(
    original: Transaction,
    debit: Account,
    credit: Account,
    *,
    id: UUID,
    amount: int,
    reference: str,
    now: datetime,
    reason: str,
) -> tuple[Booking, Transaction]:
    """Move (part of) a completed transaction back the way it came, born completed: ``debit``
    is the account the original credited, ``credit`` the one it debited. Returns the reversal's
    booking and the original with its ``reversed_amount`` grown by ``amount``."""
    if (debit.id, credit.id) != (original.credit_account_id, original.debit_account_id):
        raise LedgerInvariantViolated("a reversal moves money back between the same accounts")
    if amount > original.amount - original.reversed_amount:
        raise LedgerInvariantViolated("reversals never add up to more than the original")
    movement = post_direct(debit, credit, amount, now)
    reversal = Transaction(
        id=id,
        type=TransactionType.REVERSAL,
        status=TransactionStatus.COMPLETED,
        amount=amount,
        currency=original.currency,
        funding_source=original.funding_source,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        reference=reference,
        created_at=now,
        updated_at=now,
        sender=party_of(debit) if debit.is_wallet else None,
        recipient=party_of(credit) if credit.is_wallet else None,
        description=reason,
        completed_at=now,
        reverses=original.id,
    )
    grown = replace(original, reversed_amount=original.reversed_amount + amount, updated_at=now)
    return Booking(reversal, movement), grown
