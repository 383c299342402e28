"""The in-memory :class:`~wallet_core.ports.Storage`: units of work run one at a time (an
asyncio lock) on a staged overlay that is merged on commit and dropped on error, so they are
atomic and isolated; and the repositories of tokens, session marks, receipts and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from wallet_core.journal import Receipt, StoredReceipt, Written
from wallet_core.local import SystemClock, Uuid7Generator
from wallet_core.notifications import Notification
from wallet_core.ports import (
    UnitOfWork,
)
from wallet_core.sessions import RefreshToken, SessionMark
from wallet_core.testing.entries import MemoryEntryRepository
from wallet_core.testing.events import MemoryEventRepository
from wallet_core.testing.overlay import MemoryState, Overlay
from wallet_core.testing.repositories import (
    MemoryAccountRepository,
    MemoryTransactionRepository,
    MemoryUserRepository,
)
from wallet_core.testing.webhooks import MemoryWebhookRepository

K = TypeVar("K")
V = TypeVar("V")


T = TypeVar("T")


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
        transactions = self._table(state.transactions)
        self.transactions = MemoryTransactionRepository(transactions, accounts)
        self.entries = MemoryEntryRepository(self._table(state.entries), transactions)
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
