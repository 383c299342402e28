"""What every money use case shares: references, the client-facing checks, notifications, and
:func:`execute`, the one loop that reads, decides, writes, and retries or replays.

A use case gives :func:`execute` a ``decide`` coroutine: one read through the ``Ledger`` port,
then pure decisions that return a :class:`Plan` (the write, and the outcome to answer) or raise a
domain error. ``execute`` adds the idempotency receipt and hands the write to storage once. If a
guard refused it (someone moved the same money in between), it decides again from a fresh read;
if the key already holds an outcome, it replays that instead.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from wallet_core.bookings import Booking
from wallet_core.errors import (
    DomainError,
    IdempotencyKeyInProgress,
    InsufficientFunds,
    ServiceUnavailable,
    WalletFrozen,
)
from wallet_core.events import write_events
from wallet_core.journal import LedgerWrite, TransactionChange, Written, touched_users
from wallet_core.ledger import Account, Transaction, TransactionType
from wallet_core.money import Money, format_minor
from wallet_core.notifications import Notification
from wallet_core.services.context import Context
from wallet_core.services.idempotency import Idempotency, Replayed, is_stored

T = TypeVar("T")

#: How often a refused write is decided again before giving up with a retryable 503. A guard
#: fails only when the same rows changed in between; each round, one of the racing writers wins,
#: so even a burst of concurrent writers to one transaction (wrong cash-out codes) settles.
MAX_DECISIONS = 16

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_REFERENCE_PREFIX = {
    TransactionType.DEPOSIT: "DEP",
    TransactionType.TRANSFER: "TRF",
    TransactionType.WITHDRAWAL: "WDR",
    TransactionType.REVERSAL: "REV",
}


def new_reference(kind: TransactionType) -> str:
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(10))
    return f"{_REFERENCE_PREFIX[kind]}-{body}"


def ensure_funds(wallet: Account, money: Money) -> None:
    """The client-facing insufficient-funds answer, in money (the ledger re-checks anyway)."""
    if wallet.is_wallet and wallet.available < money.minor:
        available = Money(wallet.available, money.currency)
        raise InsufficientFunds(f"Insufficient funds: available {available}, requested {money}")


def require_active(*wallets: Account) -> None:
    for wallet in wallets:
        if wallet.is_wallet and not wallet.is_active:
            raise WalletFrozen(f"Wallet {wallet.id} is frozen.")


def notification(
    ctx: Context,
    kind: str,
    user_id: UUID,
    transaction: Transaction,
    now: datetime,
    extra: Mapping[str, str] | None = None,
) -> Notification:
    """An email to send after commit, with a snapshot of what it says (as of the change)."""
    payload = {
        "transaction_id": str(transaction.id),
        "reference": transaction.reference,
        "type": transaction.type.value,
        "status": transaction.status.value,
        "amount": format_minor(transaction.amount, ctx.currencies.get(transaction.currency)),
        "currency": transaction.currency,
        "sender": transaction.sender.username if transaction.sender else "",
        "recipient": transaction.recipient.username if transaction.recipient else "",
        "description": transaction.description,
        "expires_at": transaction.expires_at.isoformat() if transaction.expires_at else "",
    }
    payload.update(extra or {})
    return Notification(
        id=ctx.ids.new_id(), kind=kind, user_id=user_id, created_at=now, payload=payload
    )


@dataclass(frozen=True, slots=True)
class Step:
    """One ledger operation in a write: its booking, the transaction as it was read (None for a
    new one), and whether it needed its wallets active and its transaction unexpired."""

    booking: Booking
    before: Transaction | None = None
    needs_active: bool = False
    unexpired: bool = False


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """A decision: what to write, and the outcome to answer once it is written (a result, or a
    domain error that still changes something, such as an expiry noticed on accept)."""

    write: LedgerWrite
    outcome: T | DomainError
    touched: tuple[UUID, ...] = field(default=())


def plan(
    ctx: Context,
    now: datetime,
    steps: Iterable[Step],
    outcome: T | DomainError,
    *,
    notifications: Iterable[Notification] = (),
    changed: Iterable[TransactionChange] = (),
) -> Plan[T]:
    """The write for ``steps`` (entries with fresh ids, the guards each step relies on)."""
    created: list[Transaction] = []
    changes = list(changed)
    entries = []
    active: set[UUID] = set()
    for step in steps:
        transaction = step.booking.transaction
        lines = step.booking.movement.lines
        entries += step.booking.entries([ctx.ids.new_id() for _ in lines])
        if step.before is None:
            created.append(transaction)
        else:
            changes.append(
                TransactionChange(step.before, transaction, now if step.unexpired else None)
            )
        if step.needs_active:
            active.update((transaction.debit_account_id, transaction.credit_account_id))
    moved = [*created, *(c.after for c in changes)]
    write = LedgerWrite(
        now=now,
        created=tuple(created),
        changed=tuple(changes),
        entries=tuple(entries),
        notifications=tuple(notifications),
        active=frozenset(active),
        events=write_events(ctx.ids.new_id, created, changes, ctx.currencies),
    )
    return Plan(write, outcome, touched_users(moved))


def refused(ctx: Context, error: DomainError) -> Plan[T]:
    """An outcome that changes nothing but, under an idempotency key, is kept for retries."""
    return Plan(LedgerWrite(now=ctx.clock.now()), error)


async def execute(
    ctx: Context,
    idempotency: Idempotency | None,
    decide: Callable[[], Awaitable[Plan[T]]],
) -> T | Replayed:
    """Decide, write once, and answer: the outcome, or the first request's receipt."""
    for attempt in range(MAX_DECISIONS):
        if attempt:  # the last write was refused: let the racing writers through, then retry
            await asyncio.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))
        try:
            decision = await decide()
        except DomainError as error:
            if idempotency is None or not is_stored(error):
                raise
            decision = refused(ctx, error)
        write = decision.write
        if idempotency is not None:
            write = write.with_receipt(
                idempotency.receipt(decision.outcome, write.now, ctx.policy.idempotency_ttl)
            )
        elif write.is_empty:
            if isinstance(decision.outcome, DomainError):
                raise decision.outcome
            return decision.outcome
        written = await ctx.ledger.apply(write)
        if written is Written.APPLIED:
            if write.events:
                ctx.event_signal.notify()
            for transaction in write.movements:
                ctx.counter.count(transaction)
            if decision.touched:
                await ctx.list_cache.invalidate(decision.touched)
            if isinstance(decision.outcome, DomainError):
                raise decision.outcome
            return decision.outcome
        if written is Written.IN_FLIGHT:
            raise IdempotencyKeyInProgress()
        if written is Written.DUPLICATE:
            assert idempotency is not None
            stored = await ctx.ledger.receipt(idempotency.scope, idempotency.key, ctx.clock.now())
            if stored is not None:
                return idempotency.replay(stored)
        # REFUSED (or a receipt that expired meanwhile): decide again from a fresh read.
    raise ServiceUnavailable("The wallet is busy; retry shortly.")
