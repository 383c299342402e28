"""Events: what integrators are told about, recorded with the change they describe.

Every status change of a transaction, and every freeze or unfreeze of a wallet, becomes one
:class:`Event`, written by storage in the same transaction as the change (a write that is refused
writes none). One event has one id, seen by every party it concerns: ``user_ids`` says who, and
staff see all. ``data`` is the JSON the API shows (``{"transaction": ...}`` or ``{"wallet":
...}``), frozen as of the event, so a later change never rewrites what an event said.

Storage gives each stored event a :class:`Position` in commit order: the stream and the webhook
dispatcher read "everything after this position" and, because a position is only handed out once
every transaction that could still commit before it has ended, never skip one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from wallet_core.journal import TransactionChange
from wallet_core.ledger import Account, Party, Transaction, TransactionStatus
from wallet_core.money import Currencies, format_minor
from wallet_core.queries import PageRequest


class EventType(StrEnum):
    TRANSACTION_CREATED = "transaction.created"
    TRANSACTION_COMPLETED = "transaction.completed"
    TRANSACTION_REJECTED = "transaction.rejected"
    TRANSACTION_CANCELLED = "transaction.cancelled"
    TRANSACTION_EXPIRED = "transaction.expired"
    TRANSACTION_REVERSED = "transaction.reversed"
    WALLET_UPDATED = "wallet.updated"


#: The event a transaction's new status is announced by.
STATUS_EVENTS = {
    TransactionStatus.COMPLETED: EventType.TRANSACTION_COMPLETED,
    TransactionStatus.REJECTED: EventType.TRANSACTION_REJECTED,
    TransactionStatus.CANCELLED: EventType.TRANSACTION_CANCELLED,
    TransactionStatus.EXPIRED: EventType.TRANSACTION_EXPIRED,
}


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a stored event sits in commit order (opaque outside storage)."""

    xid: int
    seq: int


@dataclass(frozen=True, slots=True)
class Event:
    id: UUID
    type: EventType
    created_at: datetime
    data: Mapping[str, Any] = field(compare=False)
    #: The users who may see it (the parties of its transaction, the owner of its wallet).
    user_ids: tuple[UUID, ...] = ()
    transaction_id: UUID | None = None
    wallet_id: UUID | None = None
    #: Set on events read back from storage.
    position: Position | None = field(default=None, compare=False)

    def visible_to(self, user_id: UUID, is_staff: bool) -> bool:
        return is_staff or user_id in self.user_ids

    def body(self) -> dict[str, Any]:
        """The event object of the API, ready for JSON."""
        return {
            "id": str(self.id),
            "type": self.type.value,
            "created_at": timestamp(self.created_at),
            "data": dict(self.data),
        }


def timestamp(at: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z``, as every timestamp of the API."""
    if at is None:
        return None
    return at.isoformat().replace("+00:00", "Z")


def _party(party: Party | None) -> dict[str, str] | None:
    if party is None:
        return None
    return {
        "user_id": str(party.user_id),
        "username": party.username,
        "wallet_id": str(party.wallet_id),
    }


def transaction_data(t: Transaction, currencies: Currencies) -> dict[str, Any]:
    """The transaction object of the API as JSON (the same fields as ``GET`` shows)."""
    counterparty = t.counterparty_wallet_id
    return {
        "id": str(t.id),
        "type": t.type.value,
        "status": t.status.value,
        "amount": format_minor(t.amount, currencies.get(t.currency)),
        "currency": t.currency,
        "funding_source": t.funding_source.value,
        "reference": t.reference,
        "description": t.description,
        "wallet_id": str(t.wallet_id),
        "counterparty_wallet_id": str(counterparty) if counterparty else None,
        "sender": _party(t.sender),
        "recipient": _party(t.recipient),
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
        "expires_at": timestamp(t.expires_at),
        "completed_at": timestamp(t.completed_at),
        "metadata": dict(t.metadata),
        "reverses": str(t.reverses) if t.reverses else None,
        "reversed_amount": format_minor(t.reversed_amount, currencies.get(t.currency)),
    }


def wallet_data(wallet: Account, currencies: Currencies) -> dict[str, Any]:
    """The wallet object of the API as JSON."""
    unit = currencies.get(wallet.currency)
    return {
        "id": str(wallet.id),
        "owner": {"id": str(wallet.owner_id), "username": wallet.owner_username or ""},
        "currency": wallet.currency,
        "balance": format_minor(wallet.balance, unit),
        "available_balance": format_minor(wallet.available, unit),
        "held_balance": format_minor(wallet.held, unit),
        "pending_incoming": format_minor(wallet.pending_incoming, unit),
        "is_active": wallet.is_active,
        "created_at": timestamp(wallet.created_at),
        "updated_at": timestamp(wallet.updated_at),
    }


def transaction_event(
    event_id: UUID, kind: EventType, transaction: Transaction, currencies: Currencies
) -> Event:
    return Event(
        id=event_id,
        type=kind,
        created_at=transaction.updated_at,
        data={"transaction": transaction_data(transaction, currencies)},
        user_ids=transaction.party_user_ids,
        transaction_id=transaction.id,
        wallet_id=transaction.wallet_id,
    )


def wallet_event(event_id: UUID, wallet: Account, currencies: Currencies) -> Event:
    return Event(
        id=event_id,
        type=EventType.WALLET_UPDATED,
        created_at=wallet.updated_at,
        data={"wallet": wallet_data(wallet, currencies)},
        user_ids=(wallet.owner_id,) if wallet.owner_id else (),
        wallet_id=wallet.id,
    )


def write_events(
    new_id: Callable[[], UUID],
    created: Iterable[Transaction],
    changed: Iterable[TransactionChange],
    currencies: Currencies,
) -> tuple[Event, ...]:
    """The events of a write: ``transaction.created`` for each new transaction (and its
    completion when it is born completed), one event per status a transaction moves to, and
    ``transaction.reversed`` for an original whose reversed amount grew."""
    kinds: list[tuple[EventType, Transaction]] = []
    for transaction in created:
        kinds.append((EventType.TRANSACTION_CREATED, transaction))
        if transaction.status in STATUS_EVENTS:
            kinds.append((STATUS_EVENTS[transaction.status], transaction))
    for change in changed:
        after = change.after
        if after.status is not change.before.status and after.status in STATUS_EVENTS:
            kinds.append((STATUS_EVENTS[after.status], after))
        if after.reversed_amount > change.before.reversed_amount:
            kinds.append((EventType.TRANSACTION_REVERSED, after))
    return tuple(transaction_event(new_id(), kind, t, currencies) for kind, t in kinds)


@dataclass(frozen=True, slots=True)
class EventFilter:
    viewer_id: UUID | None = None  # None: staff, sees everything
    types: frozenset[EventType] = frozenset()
    created_after: datetime | None = None
    created_before: datetime | None = None
    transaction_id: UUID | None = None

    def matches(self, event: Event) -> bool:
        return (
            (self.viewer_id is None or self.viewer_id in event.user_ids)
            and (not self.types or event.type in self.types)
            and (self.created_after is None or event.created_at >= self.created_after)
            and (self.created_before is None or event.created_at <= self.created_before)
            and (self.transaction_id is None or event.transaction_id == self.transaction_id)
        )


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Newest first (by id: UUIDv7s sort by creation); a keyset cursor is the last id seen."""

    filter: EventFilter
    page: PageRequest = field(default_factory=PageRequest)


class EventSignal:
    """Wakes waiting feeds of this process. Adapters call :meth:`notify` when the database says
    some process committed events; this process's own writes notify it directly.

    A reader takes :attr:`generation` *before* it reads, and waits with it: a notification that
    came while it was reading makes the wait return at once instead of being missed.
    """

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self.generation = 0

    def notify(self) -> None:
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float, since: int | None = None) -> None:
        """Until a :meth:`notify` after generation ``since`` (default: from now), or ``seconds``
        at most."""
        if since is not None and since != self.generation:
            return
        changed = self._changed
        try:
            async with asyncio.timeout(seconds):
                await changed.wait()
        except TimeoutError:
            return
