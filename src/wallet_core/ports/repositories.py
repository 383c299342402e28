"""The repositories a unit of work holds, one per aggregate, and what sends webhooks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from wallet_core.events import Event, EventQuery, Position
from wallet_core.journal import Receipt, StoredReceipt, Written
from wallet_core.ledger import Account, Column, Entry, FundingSource, Transaction
from wallet_core.notifications import Notification
from wallet_core.queries import PageRequest, TransactionQuery, UserQuery, WalletQuery
from wallet_core.sessions import RefreshToken, SessionMark
from wallet_core.statements import IntervalTotals, Line, LineQuery, RunningBalance
from wallet_core.users import User
from wallet_core.webhooks import Delivery, DeliveryStatus, SendOutcome, WebhookEndpoint


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raise ``AlreadyExists`` when the email, username or phone number is taken."""
        ...

    async def update(self, user: User) -> None: ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def lock(self, user_id: UUID) -> User | None:
        """Load and lock the user for the rest of the unit of work (read-modify-write)."""
        ...

    async def find_by_login(self, login: str) -> User | None:
        """By email or username, case-insensitively."""
        ...

    async def find_by_phone(self, phone_number: str) -> User | None: ...

    async def find_by_username(self, username: str) -> User | None: ...

    async def search(self, query: UserQuery) -> list[User]: ...

    async def count(self, query: UserQuery) -> int: ...


class AccountRepository(Protocol):
    async def add(self, account: Account) -> None:
        """Raise ``AlreadyExists`` for a second wallet of one user in one currency."""
        ...

    async def get(self, account_id: UUID) -> Account | None: ...

    async def lock(self, account_ids: Iterable[UUID]) -> dict[UUID, Account]:
        """Load and lock the accounts for the rest of the unit of work, in id order."""
        ...

    async def save(self, accounts: Sequence[Account]) -> None:
        """Persist new totals/flags of accounts previously locked in this unit of work."""
        ...

    async def wallets_of(self, user_id: UUID) -> list[Account]:
        """The user's wallets, oldest first."""
        ...

    async def wallet_of(self, user_id: UUID, currency: str) -> Account | None: ...

    async def find_system(self, source: FundingSource, currency: str) -> Account | None:
        """The system account of a funding source in a currency, if it exists yet."""
        ...

    async def search(self, query: WalletQuery) -> list[Account]: ...

    async def count(self, query: WalletQuery) -> int: ...

    async def all_accounts(self) -> list[Account]: ...


class TransactionRepository(Protocol):
    async def add(self, transaction: Transaction) -> None:
        """Raise ``AlreadyExists`` when the (funding source, provider id) or reference is taken."""
        ...

    async def update(self, transaction: Transaction) -> None: ...

    async def get(self, transaction_id: UUID) -> Transaction | None: ...

    async def lock(self, transaction_id: UUID) -> Transaction | None: ...

    async def by_provider_id(
        self, source: FundingSource, provider_id: str
    ) -> Transaction | None: ...

    async def withdrawals_of(
        self,
        wallet_ids: Sequence[UUID],
        *,
        code_digests: Sequence[str] | None = None,
        pending_only: bool,
    ) -> list[Transaction]:
        """Cash-outs of these wallets (locked), by code digest or all pending ones."""
        ...

    async def lock_due(self, now: datetime, limit: int) -> list[Transaction]:
        """Pending transfers past their expiry, locked, skipping rows others hold."""
        ...

    async def transaction_counts(self) -> dict[UUID, int]:
        """Per account, how many transfers it is a side of (for the audit)."""
        ...

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        """Per account, the amounts of pending transfers it is debited and credited by."""
        ...

    async def search(self, query: TransactionQuery) -> list[Transaction]: ...

    async def count(self, query: TransactionQuery) -> int:
        """How many match; for a viewer-only filter, the sum of the viewer's wallets'
        ``transaction_count`` (kept by the ledger, checked by the audit)."""
        ...


class EntryRepository(Protocol):
    async def add_many(self, entries: Sequence[Entry]) -> None: ...

    async def totals(self) -> dict[UUID, dict[Column, int]]:
        """Per account, the sum of entry deltas for each column (for the audit)."""
        ...

    async def running_balances(self) -> dict[UUID, RunningBalance]:
        """Per account with posted lines, their running-balance check (for the audit)."""
        ...

    async def lines(self, query: LineQuery) -> list[Line]:
        """Up to ``page_size + 1`` posted lines of the account, in the query's order."""
        ...

    async def count_lines(self, query: LineQuery) -> int: ...

    async def balance_at(self, account_id: UUID, at: datetime, *, inclusive: bool = True) -> int:
        """The ``balance_after`` of the account's last line posted at (or, not ``inclusive``,
        strictly before) ``at``; 0 when there is none. One index lookup."""
        ...

    async def interval_totals(
        self, account_id: UUID, start: datetime, end: datetime
    ) -> IntervalTotals:
        """Credits, debits and line count of the lines posted in ``[start, end)``."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def lock_by_digest(self, token_digest: str) -> RefreshToken | None: ...

    async def mark_rotated(self, token_id: UUID, at: datetime) -> None: ...

    async def revoke_family(self, family_id: UUID, at: datetime) -> None: ...

    async def revoke_all_of(self, user_id: UUID, at: datetime) -> None: ...


class SessionMarkRepository(Protocol):
    async def advance(self, user_id: UUID, at: datetime) -> SessionMark:
        """Advance the user's session generation by one (the first advance gives 1)."""
        ...

    async def get(self, user_id: UUID) -> SessionMark | None:
        """None: the generation never advanced (it is 0)."""
        ...

    async def changed_since(self, since: datetime) -> list[SessionMark]: ...


class SessionFeed(Protocol):
    """Tells every other API process about a new session mark at once."""

    async def publish(self, mark: SessionMark) -> None:
        """Best effort, never raises: the database poll delivers whatever a feed loses."""
        ...


class ReceiptRepository(Protocol):
    """Idempotency receipts. A claim lives only inside the unit of work that makes it: a second
    request with the key waits for it or finds its outcome; a rollback leaves nothing behind."""

    async def begin(self, scope: str, key: str, now: datetime) -> Written:
        """Before a unit of work that will store a receipt: APPLIED to go ahead, DUPLICATE when
        the key holds an unexpired receipt, IN_FLIGHT while another request with it runs (on
        PostgreSQL the key stays taken until this unit of work ends)."""
        ...

    async def claim(self, receipt: Receipt) -> Written:
        """Store ``receipt`` unless the key holds an unexpired one (DUPLICATE) or its first
        request is still running (IN_FLIGHT); APPLIED when stored."""
        ...

    async def get(self, scope: str, key: str, now: datetime) -> StoredReceipt | None:
        """The unexpired receipt under this key."""
        ...

    async def delete_expired(self, now: datetime, limit: int) -> int: ...


class OutboxRepository(Protocol):
    async def add_many(self, events: Sequence[Notification]) -> None: ...

    async def lock_undispatched(
        self, limit: int, stale_before: datetime, now: datetime
    ) -> list[Notification]:
        """Unsent events to hand to the queue, oldest first, skipping rows others hold: never
        dispatched, or dispatched before ``stale_before`` and still unsent (a lost task); and
        in either case not waiting out a retry backoff (``next_attempt_at`` after ``now``)."""
        ...

    async def mark_dispatched(self, event_ids: Sequence[UUID], at: datetime) -> None: ...

    async def lock_for_delivery(self, event_id: UUID) -> Notification | None: ...

    async def mark_sent(self, event_id: UUID, at: datetime, payload: Mapping[str, str]) -> None: ...

    async def record_attempt(self, event_id: UUID, retry_at: datetime) -> None:
        """Count a failed delivery and make the event dispatchable again at ``retry_at``."""
        ...


class EventRepository(Protocol):
    async def add_many(self, events: Sequence[Event]) -> None:
        """Store events; each gets its position in commit order."""

    async def get(self, event_id: UUID) -> Event | None: ...

    async def search(self, query: EventQuery) -> list[Event]: ...

    async def count(self, query: EventQuery) -> int: ...

    async def after(self, position: Position | None, limit: int) -> list[Event]:
        """Up to ``limit`` events after ``position`` (None: from the oldest) in commit order,
        and only events no transaction still running can come before: a reader that continues
        from the last one returned never skips one."""

    async def last_position(self) -> Position | None:
        """The position of the newest event :meth:`after` would return now."""

    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` events created before ``before``; how many went."""


class WebhookRepository(Protocol):
    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None: ...

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None: ...

    async def delete_endpoint(self, endpoint_id: UUID) -> None:
        """The endpoint and its deliveries."""

    async def get_endpoint(self, endpoint_id: UUID) -> WebhookEndpoint | None: ...

    async def endpoints_of(self, user_id: UUID) -> list[WebhookEndpoint]: ...

    async def active_endpoints(self) -> list[WebhookEndpoint]: ...

    async def lock_cursor(self) -> Position | None:
        """Where the fan-out of events to deliveries has got to, locked until commit."""

    async def save_cursor(self, position: Position) -> None: ...

    async def add_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        """Insert, skipping any (endpoint, event) pair that already has one."""

    async def claim_due(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        per_endpoint: int,
        busy: Iterable[UUID],
    ) -> list[Delivery]:
        """Lease up to ``limit`` pending deliveries due at ``now`` (at most ``per_endpoint``
        of each endpoint, none of the ``busy`` ones): their ``next_attempt_at`` becomes
        ``lease_until``, so a worker that dies while sending leaves them due again then."""

    async def get_delivery(self, delivery_id: UUID) -> Delivery | None: ...

    async def save_delivery(self, delivery: Delivery) -> None: ...

    async def deliveries_of(
        self, endpoint_id: UUID, status: DeliveryStatus | None, page: PageRequest
    ) -> list[Delivery]:
        """Newest first; a keyset cursor is the last delivery id seen."""

    async def count_deliveries(self, endpoint_id: UUID, status: DeliveryStatus | None) -> int: ...

    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries made before ``before``; how many went."""


class WebhookSender(Protocol):
    """Sends deliveries over HTTP, and decides which URLs may be targets."""

    async def check_target(self, url: str) -> str | None:
        """Why ``url`` may not be a target (None: it may)."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], seconds: float
    ) -> SendOutcome: ...
