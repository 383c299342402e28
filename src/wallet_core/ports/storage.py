"""Units of work and storage, the money path's ledger, secrets, counters and email."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from wallet_core.journal import LedgerWrite, StoredReceipt, Written
from wallet_core.ledger import Account, FundingSource, Transaction
from wallet_core.notifications import Notification
from wallet_core.ports.repositories import (
    AccountRepository,
    EntryRepository,
    EventRepository,
    OutboxRepository,
    ReceiptRepository,
    RefreshTokenRepository,
    SessionMarkRepository,
    TransactionRepository,
    UserRepository,
    WebhookRepository,
)
from wallet_core.ports.services import T
from wallet_core.snapshots import (
    CashOutAttempt,
    ProviderDeposit,
    RecipientQuery,
    TransactionParties,
    TransactionState,
    WalletsAndSinks,
)
from wallet_core.users import User


class UnitOfWork(Protocol):
    """One database transaction and the repositories that work inside it."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def transactions(self) -> TransactionRepository: ...

    @property
    def entries(self) -> EntryRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def session_marks(self) -> SessionMarkRepository: ...

    @property
    def receipts(self) -> ReceiptRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...


class Ledger(Protocol):
    """The money path's storage: one read for a decision, one write to apply it.

    Each read returns everything one use case needs (:mod:`wallet_core.snapshots`); ``apply``
    applies a :class:`~wallet_core.journal.LedgerWrite` atomically under its guards (see
    :func:`wallet_core.journal.refusal`), with its idempotency receipt, or writes nothing.
    """

    async def transaction_parties(
        self, sender_id: UUID, recipient: RecipientQuery
    ) -> TransactionParties: ...

    async def wallets_and_sinks(self, user_id: UUID, source: FundingSource) -> WalletsAndSinks:
        """The user's wallets and ``source``'s system accounts."""
        ...

    async def wallet_and_source(
        self, wallet_id: UUID, source: FundingSource
    ) -> tuple[Account | None, Account | None]:
        """A wallet and ``source``'s system account in its currency."""
        ...

    async def provider_deposit(
        self, source: FundingSource, provider_id: str, phone_number: str
    ) -> ProviderDeposit: ...

    async def transaction(self, transaction_id: UUID) -> TransactionState | None: ...

    async def cashout_attempt(
        self, phone_number: str, code_digests: Sequence[str]
    ) -> CashOutAttempt: ...

    async def due(self, now: datetime, limit: int) -> list[TransactionState]:
        """Pending transactions past their expiry, oldest expiry first."""
        ...

    async def add_system_account(self, account: Account) -> Account:
        """Create a funding source's system account unless it exists; the stored one."""
        ...

    async def apply(self, write: LedgerWrite) -> Written: ...

    async def receipt(self, scope: str, key: str, now: datetime) -> StoredReceipt | None: ...


class MovementCounter(Protocol):
    """Told of every transaction a committed write created or moved to a new status, whichever
    entrypoint made it (metrics)."""

    def count(self, transaction: Transaction) -> None: ...


class SecretBox(Protocol):
    """Authenticated encryption for secrets that must rest somewhere (a cash-out code inside an
    idempotency receipt or an unsent email): the plaintext never reaches a table."""

    def seal(self, plaintext: bytes) -> bytes: ...

    def open(self, sealed: bytes) -> bytes:
        """Raise ``ValueError`` unless ``sealed`` came from this box (or a key it still knows)."""
        ...


class Storage(Protocol):
    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction and commit; roll back if it raises.

        Adapters may run ``work`` again (a bounded number of times) on a serialization failure or
        deadlock, so ``work`` must have no side effects outside the unit of work.
        """
        ...

    async def run_read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run read-only ``work`` (no locks, nothing to commit)."""
        ...


class Notifier(Protocol):
    """Delivers one rendered message to one address (SMTP, console, memory)."""

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str


class MessageRenderer(Protocol):
    """Turns an outbox event and its addressee into an email (templates live in adapters)."""

    def render(self, event: Notification, user: User) -> EmailMessage: ...
