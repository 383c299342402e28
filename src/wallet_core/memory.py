"""In-memory adapters for every port, and ``build_in_memory()``: a ready core without a database.

For unit tests and for library users. Units of work run one at a time (an asyncio lock) on a
staged overlay that is merged on commit and dropped on error, so they are atomic and isolated.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar, cast
from uuid import UUID

from wallet_core.core import WalletCore, build_core
from wallet_core.errors import AlreadyExists, NotAuthenticated
from wallet_core.events import Event, Position
from wallet_core.journal import Receipt, StoredReceipt, Written
from wallet_core.ledger import (
    Account,
    Entry,
    FundingSource,
    Transfer,
    TransferStatus,
)
from wallet_core.memory_entries import MemoryEntryRepository
from wallet_core.memory_events import MemoryEventRepository
from wallet_core.memory_webhooks import MemoryWebhookRepository
from wallet_core.money import Currencies
from wallet_core.notifications import subject_for
from wallet_core.ports import (
    AccessClaims,
    EmailMessage,
    IssuedAccessToken,
    UnitOfWork,
    WebhookSender,
)
from wallet_core.queries import (
    TransactionFilter,
    TransactionQuery,
    UserQuery,
    WalletFilter,
    WalletQuery,
    after_cursor,
    sort_rows,
    transaction_sort_value,
    user_sort_value,
    wallet_sort_value,
)
from wallet_core.records import Notification, RefreshToken
from wallet_core.services.context import Policy
from wallet_core.sessions import SessionMark
from wallet_core.users import User
from wallet_core.webhooks import Delivery, RetryPolicy, WebhookEndpoint

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


# Small ports ------------------------------------------------------------------------------------


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class Uuid7Generator:
    """UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; monotonic per process."""

    def __init__(self) -> None:
        self._last = 0

    def new_id(self) -> UUID:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big") >> 6  # the 74 bits a UUIDv7 leaves free
        # Monotonic on (milliseconds, random bits) *before* the fixed version and variant bits
        # are inserted, so that inserting them cannot reorder two ids of one millisecond.
        value = max((ms << 74) | rand, self._last + 1)
        self._last = value
        ms, rand = value >> 74, value & ((1 << 74) - 1)
        return UUID(
            int=(ms << 80)
            | (0x7 << 76)  # version 7
            | ((rand >> 62) << 64)  # rand_a: 12 bits
            | (0x2 << 62)  # RFC 4122 variant
            | (rand & ((1 << 62) - 1))  # rand_b: 62 bits
        )


class Pbkdf2PasswordHasher:
    """A salted PBKDF2-SHA256 hasher from the standard library (production uses argon2id)."""

    def __init__(self, iterations: int = 1000) -> None:
        self._iterations = iterations

    def _derive(self, password: str, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)

    async def hash(self, password: str) -> str:
        salt = os.urandom(16)
        digest = self._derive(password, salt, self._iterations)
        return f"pbkdf2${self._iterations}${salt.hex()}${digest.hex()}"

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            _, iterations, salt, digest = password_hash.split("$")
            derived = self._derive(password, bytes.fromhex(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(derived.hex(), digest)

    async def burn(self, password: str) -> None:
        self._derive(password, b"0" * 16, self._iterations)


class KeyedSecretHasher:
    """HMAC-SHA256 of a one-time secret under a server key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class HmacTokenIssuer:
    """Minimal HS256 JWTs from the standard library (production uses PyJWT)."""

    def __init__(self, secret: bytes, ttl_seconds: int = 1800) -> None:
        self._secret = secret
        self._ttl = ttl_seconds

    def issue_access(
        self, user: User, now: datetime, session_generation: int = 0
    ) -> IssuedAccessToken:
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "sub": str(user.id),
            "email": user.email,
            "is_staff": user.is_staff,
            "type": "access",
            "jti": secrets.token_hex(16),
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self._ttl,
            "session_generation": session_generation,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return IssuedAccessToken(f"{signing_input}.{_b64(signature)}", self._ttl)

    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                raise ValueError("bad signature")
            if json.loads(_unb64(head)).get("alg") != "HS256":
                raise ValueError("bad alg")
            claims = json.loads(_unb64(body))
            if claims.get("type") != "access" or int(claims["exp"]) <= now.timestamp():
                raise ValueError("not a live access token")
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                email=str(claims["email"]),
                is_staff=bool(claims["is_staff"]),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                session_generation=int(claims.get("session_generation", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotAuthenticated("The access token is invalid or expired.") from exc


class MemorySecretBox:
    """A SecretBox for the in-memory core, where nothing ever rests on disk: the plaintext under
    an HMAC tag (authenticated, not encrypted). Adapters encrypt for real (AES-GCM)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, plaintext: bytes) -> bytes:
        return hmac.new(self._key, plaintext, hashlib.sha256).digest() + plaintext

    def open(self, sealed: bytes) -> bytes:
        tag, plaintext = sealed[:32], sealed[32:]
        if not hmac.compare_digest(tag, hmac.new(self._key, plaintext, hashlib.sha256).digest()):
            raise ValueError("not sealed by this box")
        return plaintext


class LocalSessionFeed:
    """The session feed of a process without Redis: nobody to tell at once, so the other
    processes (if any) learn new marks from their database poll."""

    async def publish(self, mark: SessionMark) -> None:
        return None


class MemoryCache:
    def __init__(self, clock: SystemClock | ManualClock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._data: dict[str, tuple[bytes, datetime | None]] = {}

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        now = self._clock.now()
        result: list[bytes | None] = []
        for key in keys:
            item = self._data.get(key)
            if item is not None and item[1] is not None and item[1] <= now:
                del self._data[key]
                item = None
            result.append(item[0] if item else None)
        return result

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        self._data[key] = (value, self._clock.now() + timedelta(seconds=ttl_seconds))
        return True

    async def incr(self, keys: Sequence[str]) -> bool:
        for key in keys:
            value, expires = self._data.get(key, (b"0", None))
            self._data[key] = (str(int(value) + 1).encode(), expires)
        return True


class MemoryNotifier:
    """Keeps every sent message, for tests and the embedded console-less mode."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


class PlainRenderer:
    """Plain-text emails from the core's subject lines (production adds HTML templates)."""

    def render(self, event: Notification, user: User) -> EmailMessage:
        payload = dict(event.payload)
        subject = subject_for(event.kind, payload)
        lines = [f"Hello {user.first_name or user.username},", "", subject + "."]
        lines += [f"{k}: {v}" for k, v in sorted(payload.items()) if v]
        text = "\n".join(lines)
        return EmailMessage(user.email, subject, text, f"<pre>{text}</pre>", str(event.id))


# Storage ----------------------------------------------------------------------------------------

_GONE = object()


class Overlay(Generic[K, V]):
    """Staged writes over a committed table; merged into it on commit."""

    def __init__(self, committed: dict[K, V]) -> None:
        self.committed = committed
        self.staged: dict[K, object] = {}

    def get(self, key: K) -> V | None:
        if key in self.staged:
            value = self.staged[key]
            return None if value is _GONE else cast(V, value)
        return self.committed.get(key)

    def put(self, key: K, value: V) -> None:
        self.staged[key] = value

    def delete(self, key: K) -> None:
        self.staged[key] = _GONE

    def values(self) -> Iterator[V]:
        for key, value in self.committed.items():
            if key not in self.staged:
                yield value
        for staged in self.staged.values():
            if staged is not _GONE:
                yield cast(V, staged)

    def commit(self) -> None:
        for key, value in self.staged.items():
            if value is _GONE:
                self.committed.pop(key, None)
            else:
                self.committed[key] = cast(V, value)
        self.staged.clear()


@dataclass
class MemoryState:
    users: dict[UUID, User] = field(default_factory=dict)
    accounts: dict[UUID, Account] = field(default_factory=dict)
    transfers: dict[UUID, Transfer] = field(default_factory=dict)
    entries: dict[UUID, Entry] = field(default_factory=dict)
    refresh_tokens: dict[UUID, RefreshToken] = field(default_factory=dict)
    receipts: dict[tuple[str, str], Receipt] = field(default_factory=dict)
    outbox: dict[UUID, Notification] = field(default_factory=dict)
    session_marks: dict[UUID, SessionMark] = field(default_factory=dict)
    events: dict[UUID, Event] = field(default_factory=dict)
    event_sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    webhook_endpoints: dict[UUID, WebhookEndpoint] = field(default_factory=dict)
    webhook_deliveries: dict[UUID, Delivery] = field(default_factory=dict)
    webhook_cursor: dict[str, Position] = field(default_factory=dict)


def _contains(haystack: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in haystack.lower()


class MemoryUserRepository:
    def __init__(self, table: Overlay[UUID, User]) -> None:
        self._t = table

    async def add(self, user: User) -> None:
        for other in self._t.values():
            if other.email == user.email:
                raise AlreadyExists("A user with this email already exists.")
            if other.username.lower() == user.username.lower():
                raise AlreadyExists("A user with this username already exists.")
            if other.phone_number == user.phone_number:
                raise AlreadyExists("A user with this phone number already exists.")
        self._t.put(user.id, user)

    async def update(self, user: User) -> None:
        self._t.put(user.id, user)

    async def get(self, user_id: UUID) -> User | None:
        return self._t.get(user_id)

    async def lock(self, user_id: UUID) -> User | None:
        return self._t.get(user_id)

    async def find_by_login(self, login: str) -> User | None:
        login = login.lower()
        return next((u for u in self._t.values() if login in (u.email, u.username.lower())), None)

    async def find_by_phone(self, phone_number: str) -> User | None:
        return next((u for u in self._t.values() if u.phone_number == phone_number), None)

    async def find_by_username(self, username: str) -> User | None:
        name = username.lower()
        return next((u for u in self._t.values() if u.username.lower() == name), None)

    def _matching(self, query: UserQuery) -> list[User]:
        f = query.filter
        return [
            u
            for u in self._t.values()
            if _contains(u.email, f.email)
            and _contains(u.first_name, f.first_name)
            and _contains(u.last_name, f.last_name)
            and (f.is_staff is None or u.is_staff == f.is_staff)
            and (f.is_active is None or u.is_active == f.is_active)
        ]

    async def search(self, query: UserQuery) -> list[User]:
        return _page(self._matching(query), query, user_sort_value, lambda u: u.id)

    async def count(self, query: UserQuery) -> int:
        return len(self._matching(query))


def _page(
    rows: Iterable[T],
    query: UserQuery | WalletQuery | TransactionQuery,
    value: Callable[[T, str], object],
    id_of: Callable[[T], UUID],
) -> list[T]:
    ordered = sort_rows(rows, query.ordering, value, id_of)  # type: ignore[arg-type]
    if query.page.cursor is not None:
        ordered = after_cursor(ordered, query.page.cursor, query.ordering, value, id_of)  # type: ignore[arg-type]
    start = query.page.offset
    return ordered[start : start + query.page.page_size + 1]


class MemoryAccountRepository:
    def __init__(
        self, table: Overlay[UUID, Account], new_id: Callable[[], UUID], now: Callable[[], datetime]
    ) -> None:
        self._t = table
        self._new_id = new_id
        self._now = now

    async def add(self, account: Account) -> None:
        for other in self._t.values():
            if account.source is not None and (other.source, other.currency) == (
                account.source,
                account.currency,
            ):
                raise AlreadyExists(f"The {account.source} account exists already.")
            if (
                account.is_wallet
                and other.is_wallet
                and other.owner_id == account.owner_id
                and other.currency == account.currency
            ):
                raise AlreadyExists(f"You already have a {account.currency} wallet.")
        self._t.put(account.id, account)

    async def get(self, account_id: UUID) -> Account | None:
        return self._t.get(account_id)

    async def lock(self, account_ids: Iterable[UUID]) -> dict[UUID, Account]:
        found = {i: self._t.get(i) for i in sorted(set(account_ids), key=lambda u: u.bytes)}
        return {i: a for i, a in found.items() if a is not None}

    async def save(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            self._t.put(account.id, account)

    async def wallets_of(self, user_id: UUID) -> list[Account]:
        mine = [a for a in self._t.values() if a.is_wallet and a.owner_id == user_id]
        return sorted(mine, key=lambda a: (a.created_at, a.id.bytes))

    async def wallet_of(self, user_id: UUID, currency: str) -> Account | None:
        return next((a for a in await self.wallets_of(user_id) if a.currency == currency), None)

    async def find_system(self, source: FundingSource, currency: str) -> Account | None:
        return next(
            (a for a in self._t.values() if a.source is source and a.currency == currency), None
        )

    def _matching(self, f: WalletFilter) -> list[Account]:
        return [
            a
            for a in self._t.values()
            if a.is_wallet
            and (f.viewer_id is None or a.owner_id == f.viewer_id)
            and (f.owner_id is None or a.owner_id == f.owner_id)
            and (f.currency is None or a.currency == f.currency)
            and (f.balance_min is None or a.balance >= f.balance_min)
            and (f.balance_max is None or a.balance <= f.balance_max)
            and (f.created_after is None or a.created_at >= f.created_after)
            and (f.created_before is None or a.created_at <= f.created_before)
            and (f.is_active is None or a.is_active == f.is_active)
        ]

    async def search(self, query: WalletQuery) -> list[Account]:
        return _page(self._matching(query.filter), query, wallet_sort_value, lambda a: a.id)

    async def count(self, query: WalletQuery) -> int:
        return len(self._matching(query.filter))

    async def all_accounts(self) -> list[Account]:
        return list(self._t.values())


def transfer_matches(t: Transfer, f: TransactionFilter) -> bool:
    """The transaction filter semantics (the SQL repository implements the same)."""
    parties = t.party_user_ids
    sender = t.sender.user_id if t.sender else None
    recipient = t.recipient.user_id if t.recipient else None
    if f.viewer_id is not None and f.viewer_id not in parties:
        return False
    if any(t.metadata.get(key) != value for key, value in f.metadata):
        return False
    if f.amount_min is not None and t.amount < f.amount_min:
        return False
    if f.amount_max is not None and t.amount > f.amount_max:
        return False
    if f.types and t.type not in f.types:
        return False
    if f.statuses and t.status not in f.statuses:
        return False
    if f.funding_sources and t.funding_source not in f.funding_sources:
        return False
    if f.currency is not None and t.currency != f.currency:
        return False
    if f.wallet_id is not None and f.wallet_id not in (t.debit_account_id, t.credit_account_id):
        return False
    if f.text is not None and not (
        _contains(t.reference, f.text) or _contains(t.description, f.text)
    ):
        return False
    if f.created_after is not None and t.created_at < f.created_after:
        return False
    if f.created_before is not None and t.created_at > f.created_before:
        return False
    if f.expires_after is not None and (t.expires_at is None or t.expires_at < f.expires_after):
        return False
    if f.expires_before is not None and (t.expires_at is None or t.expires_at > f.expires_before):
        return False
    if f.is_expired is not None:
        expired = t.status is TransferStatus.EXPIRED or (f.now is not None and t.is_due(f.now))
        if expired != f.is_expired:
            return False
    if f.sender_id is not None and sender != f.sender_id:
        return False
    if f.recipient_id is not None and recipient != f.recipient_id:
        return False
    if f.involving_id is not None and f.involving_id not in parties:
        return False
    if f.direction == "in" and recipient != f.caller_id:
        return False
    return not (f.direction == "out" and sender != f.caller_id)


class MemoryTransferRepository:
    def __init__(self, table: Overlay[UUID, Transfer], accounts: Overlay[UUID, Account]) -> None:
        self._t = table
        self._accounts = accounts

    async def add(self, transfer: Transfer) -> None:
        for t in self._t.values():
            if t.reference == transfer.reference:
                raise AlreadyExists("Reference collision.")
            if transfer.provider_id is not None and (t.funding_source, t.provider_id) == (
                transfer.funding_source,
                transfer.provider_id,
            ):
                raise AlreadyExists("This provider transaction was credited already.")
        self._t.put(transfer.id, transfer)

    async def update(self, transfer: Transfer) -> None:
        self._t.put(transfer.id, transfer)

    async def get(self, transfer_id: UUID) -> Transfer | None:
        return self._t.get(transfer_id)

    async def lock(self, transfer_id: UUID) -> Transfer | None:
        return self._t.get(transfer_id)

    async def by_provider_id(self, source: FundingSource, provider_id: str) -> Transfer | None:
        return next(
            (
                t
                for t in self._t.values()
                if t.funding_source is source and t.provider_id == provider_id
            ),
            None,
        )

    async def withdrawals_of(
        self, wallet_ids: Sequence[UUID], *, code_digest: str | None = None, pending_only: bool
    ) -> list[Transfer]:
        wallets = set(wallet_ids)
        found = [
            t
            for t in self._t.values()
            if t.debit_account_id in wallets
            and t.code_digest is not None
            and (code_digest is None or t.code_digest == code_digest)
            and (not pending_only or t.status is TransferStatus.PENDING)
        ]
        return sorted(found, key=lambda t: t.id.bytes)

    async def lock_due(self, now: datetime, limit: int) -> list[Transfer]:
        due = [t for t in self._t.values() if t.is_due(now)]
        return sorted(due, key=lambda t: t.id.bytes)[:limit]

    async def pending_totals(self) -> dict[UUID, tuple[int, int]]:
        totals: dict[UUID, tuple[int, int]] = {}
        for t in self._t.values():
            if t.status is TransferStatus.PENDING:
                d = totals.get(t.debit_account_id, (0, 0))
                totals[t.debit_account_id] = (d[0] + t.amount, d[1])
                c = totals.get(t.credit_account_id, (0, 0))
                totals[t.credit_account_id] = (c[0], c[1] + t.amount)
        return totals

    def _matching(self, f: TransactionFilter) -> list[Transfer]:
        return [t for t in self._t.values() if transfer_matches(t, f)]

    async def search(self, query: TransactionQuery) -> list[Transfer]:
        return _page(self._matching(query.filter), query, transaction_sort_value, lambda t: t.id)

    async def count(self, query: TransactionQuery) -> int:
        if query.filter.is_viewer_only:
            return sum(
                a.transfer_count
                for a in self._accounts.values()
                if a.is_wallet and a.owner_id == query.filter.viewer_id
            )
        return len(self._matching(query.filter))

    async def transfer_counts(self) -> dict[UUID, int]:
        counts: dict[UUID, int] = {}
        for t in self._t.values():
            for account_id in (t.debit_account_id, t.credit_account_id):
                counts[account_id] = counts.get(account_id, 0) + 1
        return counts


class MemoryRefreshTokenRepository:
    def __init__(self, table: Overlay[UUID, RefreshToken]) -> None:
        self._t = table

    async def add(self, token: RefreshToken) -> None:
        self._t.put(token.id, token)

    async def lock_by_digest(self, token_digest: str) -> RefreshToken | None:
        return next((t for t in self._t.values() if t.token_digest == token_digest), None)

    async def mark_rotated(self, token_id: UUID, at: datetime) -> None:
        token = self._t.get(token_id)
        if token is not None:
            self._t.put(token_id, replace(token, rotated_at=at))

    async def revoke_family(self, family_id: UUID, at: datetime) -> None:
        for token in list(self._t.values()):
            if token.family_id == family_id and token.revoked_at is None:
                self._t.put(token.id, replace(token, revoked_at=at))

    async def revoke_all_of(self, user_id: UUID, at: datetime) -> None:
        for token in list(self._t.values()):
            if token.user_id == user_id and token.revoked_at is None:
                self._t.put(token.id, replace(token, revoked_at=at))


class MemorySessionMarkRepository:
    def __init__(self, table: Overlay[UUID, SessionMark]) -> None:
        self._t = table

    async def advance(self, user_id: UUID, at: datetime) -> SessionMark:
        current = self._t.get(user_id)
        mark = SessionMark(user_id, 1 if current is None else current.generation + 1, at)
        self._t.put(user_id, mark)
        return mark

    async def get(self, user_id: UUID) -> SessionMark | None:
        return self._t.get(user_id)

    async def changed_since(self, since: datetime) -> list[SessionMark]:
        return [mark for mark in self._t.values() if mark.changed_at >= since]


class MemoryReceiptRepository:
    def __init__(self, table: Overlay[tuple[str, str], Receipt]) -> None:
        self._t = table

    async def begin(self, scope: str, key: str, now: datetime) -> Written:
        existing = self._t.get((scope, key))
        if existing is not None and existing.expires_at > now:
            return Written.DUPLICATE
        return Written.APPLIED

    async def claim(self, receipt: Receipt) -> Written:
        existing = self._t.get((receipt.scope, receipt.key))
        if existing is not None and existing.expires_at > receipt.created_at:
            return Written.DUPLICATE
        self._t.put((receipt.scope, receipt.key), receipt)
        return Written.APPLIED

    async def get(self, scope: str, key: str, now: datetime) -> StoredReceipt | None:
        found = self._t.get((scope, key))
        if found is None or found.expires_at <= now:
            return None
        return StoredReceipt(found.fingerprint, found.body)

    async def delete_expired(self, now: datetime, limit: int) -> int:
        expired = [r for r in self._t.values() if r.expires_at <= now][:limit]
        for receipt in expired:
            self._t.delete((receipt.scope, receipt.key))
        return len(expired)


class MemoryOutboxRepository:
    def __init__(self, table: Overlay[UUID, Notification]) -> None:
        self._t = table

    async def add_many(self, events: Sequence[Notification]) -> None:
        for item in events:
            self._t.put(item.id, item)

    async def lock_undispatched(
        self, limit: int, stale_before: datetime, now: datetime
    ) -> list[Notification]:
        waiting = [
            e
            for e in self._t.values()
            if e.sent_at is None
            and (e.dispatched_at is None or e.dispatched_at < stale_before)
            and (e.next_attempt_at is None or e.next_attempt_at <= now)
        ]
        return sorted(waiting, key=lambda e: (e.created_at, e.id.bytes))[:limit]

    async def mark_dispatched(self, event_ids: Sequence[UUID], at: datetime) -> None:
        for event_id in event_ids:
            item = self._t.get(event_id)
            if item is not None:
                self._t.put(event_id, replace(item, dispatched_at=at))

    async def lock_for_delivery(self, event_id: UUID) -> Notification | None:
        return self._t.get(event_id)

    async def mark_sent(self, event_id: UUID, at: datetime, payload: Mapping[str, str]) -> None:
        item = self._t.get(event_id)
        if item is not None:
            dispatched = item.dispatched_at or at
            self._t.put(
                event_id,
                replace(item, sent_at=at, dispatched_at=dispatched, payload=dict(payload)),
            )

    async def record_attempt(self, event_id: UUID, retry_at: datetime) -> None:
        item = self._t.get(event_id)
        if item is not None:
            retry = replace(
                item, attempts=item.attempts + 1, next_attempt_at=retry_at, dispatched_at=None
            )
            self._t.put(event_id, retry)


class MemoryUnitOfWork:
    def __init__(
        self, state: MemoryState, new_id: Callable[[], UUID], now: Callable[[], datetime]
    ) -> None:
        self._tables: list[Overlay] = []  # type: ignore[type-arg]
        self.users = MemoryUserRepository(self._table(state.users))
        accounts = self._table(state.accounts)
        self.accounts = MemoryAccountRepository(accounts, new_id, now)
        transfers = self._table(state.transfers)
        self.transfers = MemoryTransferRepository(transfers, accounts)
        self.entries = MemoryEntryRepository(self._table(state.entries), transfers)
        self.refresh_tokens = MemoryRefreshTokenRepository(self._table(state.refresh_tokens))
        self.session_marks = MemorySessionMarkRepository(self._table(state.session_marks))
        self.receipts = MemoryReceiptRepository(self._table(state.receipts))
        self.outbox = MemoryOutboxRepository(self._table(state.outbox))
        self.events = MemoryEventRepository(self._table(state.events), state.event_sequence)
        self.webhooks = MemoryWebhookRepository(
            self._table(state.webhook_endpoints),
            self._table(state.webhook_deliveries),
            self._table(state.webhook_cursor),
        )

    def _table(self, committed: dict[K, V]) -> Overlay[K, V]:
        table: Overlay[K, V] = Overlay(committed)
        self._tables.append(table)
        return table

    def commit(self) -> None:
        for table in self._tables:
            table.commit()


class MemoryStorage:
    """The in-memory :class:`~wallet_core.ports.Storage`: serialised, atomic units of work."""

    def __init__(
        self,
        new_id: Callable[[], UUID] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.state = MemoryState()
        self._lock = asyncio.Lock()
        self._new_id = new_id or Uuid7Generator().new_id
        self._now = now or SystemClock().now

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            uow = MemoryUnitOfWork(self.state, self._new_id, self._now)
            result = await work(uow)
            uow.commit()
            return result

    async def run_read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._lock:
            return await work(MemoryUnitOfWork(self.state, self._new_id, self._now))


def build_in_memory(
    *,
    clock: SystemClock | ManualClock | None = None,
    notifier: MemoryNotifier | None = None,
    currencies: Currencies | None = None,
    policy: Policy | None = None,
    secret: bytes | None = None,
    webhook_sender: WebhookSender | None = None,
    webhook_retry: RetryPolicy | None = None,
    webhook_https_only: bool = False,
) -> WalletCore:
    """A complete core on in-memory adapters: no database, no network (webhooks are sent
    only through a ``webhook_sender`` you give)."""
    clock = clock or SystemClock()
    ids = Uuid7Generator()
    key = secret or secrets.token_bytes(32)
    return build_core(
        storage=MemoryStorage(ids.new_id, clock.now),
        cache=MemoryCache(clock),
        clock=clock,
        ids=ids,
        password_hasher=Pbkdf2PasswordHasher(),
        tokens=HmacTokenIssuer(key),
        secret_hasher=KeyedSecretHasher(key),
        renderer=PlainRenderer(),
        notifier=notifier or MemoryNotifier(),
        secret_box=MemorySecretBox(key),
        session_feed=LocalSessionFeed(),
        currencies=currencies,
        policy=policy,
        webhook_sender=webhook_sender,
        webhook_retry=webhook_retry,
        webhook_https_only=webhook_https_only,
    )
