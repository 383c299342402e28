"""The in-memory tables: committed rows and a unit of work's staged writes over them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast
from uuid import UUID

from wallet_core.events import Event, Position
from wallet_core.journal import Receipt
from wallet_core.ledger import (
    Account,
    Entry,
    Transaction,
)
from wallet_core.notifications import Notification
from wallet_core.sessions import RefreshToken, SessionMark
from wallet_core.users import User
from wallet_core.webhooks import Delivery, WebhookEndpoint

K = TypeVar("K")


V = TypeVar("V")


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
    transactions: dict[UUID, Transaction] = field(default_factory=dict)
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
