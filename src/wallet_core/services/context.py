"""What every use case needs: storage, time, ids, currencies, the list cache and the policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from wallet_core.errors import PermissionDenied
from wallet_core.events import EventSignal
from wallet_core.ledger import Transaction
from wallet_core.list_cache import TransactionListCache
from wallet_core.money import Currencies
from wallet_core.ports import Clock, IdGenerator, Ledger, MovementCounter, SecretBox, Storage


@dataclass(frozen=True, slots=True)
class Policy:
    transfer_expiry: timedelta = timedelta(hours=24)
    cashout_expiry: timedelta = timedelta(minutes=30)
    access_token_ttl: timedelta = timedelta(minutes=30)
    refresh_token_ttl: timedelta = timedelta(days=1)
    idempotency_ttl: timedelta = timedelta(hours=24)
    max_code_attempts: int = 5
    withdrawal_code_length: int = 10
    default_currency: str = "USD"
    event_retention: timedelta = timedelta(days=30)

    @property
    def session_retention(self) -> timedelta:
        """How long a session mark matters: until every token issued before it has expired
        (plus a margin for a login racing the change and for clock skew)."""
        return self.access_token_ttl + timedelta(minutes=2)


class Uncounted:
    """The default MovementCounter: counts nothing."""

    def count(self, transaction: Transaction) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Context:
    storage: Storage
    ledger: Ledger
    clock: Clock
    ids: IdGenerator
    currencies: Currencies
    list_cache: TransactionListCache
    policy: Policy
    secret_box: SecretBox
    counter: MovementCounter
    #: Wakes this process's event feeds (see :mod:`wallet_core.services.events`).
    event_signal: EventSignal = field(default_factory=EventSignal)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: from a verified access token."""

    user_id: UUID
    is_staff: bool = False
    email: str = ""
    session_generation: int = 0
    #: When the access token the actor came with expires (None: not from a token).
    expires_at: datetime | None = field(default=None, compare=False)

    def require_staff(self) -> None:
        if not self.is_staff:
            raise PermissionDenied("Only staff may do this.")
