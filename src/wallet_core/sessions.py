"""Session revocation: a per-user session generation, and each process's copy of recent changes.

Every access token carries the session generation its user had when it was issued. Deactivating a
user, changing their password or taking their staff role away advances the generation (in the same
transaction as the change); a token that carries an older generation is refused. A generation
counter, not a "valid after" instant, so a login in the same second as a password change is never
mistaken for an older one (``iat`` has whole seconds), and a login that read the user before the
change can never slip through after it.

Each API process keeps the marks changed within one access-token lifetime in memory
(:class:`SessionMarks`): checking a token costs a dictionary lookup. Marks reach it from the
process that made them at once, from the others through a feed (Redis pub/sub) and a periodic
database poll, and the map knows up to when it is known complete. When it cannot vouch for the
last second, the caller asks the database instead (``SessionService.confirm``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

#: How recent the map's last confirmation must be for it to be trusted on its own.
FRESHNESS = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SessionMark:
    """A user's current session generation, and when it last advanced."""

    user_id: UUID
    generation: int
    changed_at: datetime


class SessionMarks:
    """The in-process map of recently advanced session generations.

    ``confirm(as_of)`` records that every mark committed before ``as_of`` has been learnt (a
    database poll that started then, or a pub/sub round trip sent then). Marks older than
    ``retention`` (an access token's lifetime plus a margin) are forgotten: every token issued
    before them has expired.
    """

    def __init__(self, *, retention: timedelta, freshness: timedelta = FRESHNESS) -> None:
        self._marks: dict[UUID, SessionMark] = {}
        self._retention = retention
        self._freshness = freshness
        self._complete_as_of: datetime | None = None
        self._fresh_until: datetime | None = None  # kept so the per-request test is one compare

    def __len__(self) -> int:
        return len(self._marks)

    def learn(self, marks: Iterable[SessionMark]) -> None:
        for mark in marks:
            known = self._marks.get(mark.user_id)
            if known is None or mark.generation > known.generation:
                self._marks[mark.user_id] = mark

    def confirm(self, as_of: datetime) -> None:
        if self._complete_as_of is None or as_of > self._complete_as_of:
            self._complete_as_of = as_of
            self._fresh_until = as_of + self._freshness

    def generation_of(self, user_id: UUID) -> int:
        """The newest generation known here (0: none advanced within the retention)."""
        known = self._marks.get(user_id)
        return 0 if known is None else known.generation

    def is_revoked(self, user_id: UUID, generation: int) -> bool:
        """True when this process knows a newer generation than the token's."""
        known = self._marks.get(user_id)
        return known is not None and known.generation > generation

    def fresh_for(self, now: datetime) -> timedelta:
        """How much longer the map may be trusted alone (zero or less: ask the database)."""
        if self._fresh_until is None:
            return timedelta(0)
        return self._fresh_until - now

    def is_fresh(self, now: datetime) -> bool:
        return self._fresh_until is not None and now < self._fresh_until

    def prune(self, now: datetime) -> None:
        cutoff = now - self._retention
        stale = [user for user, mark in self._marks.items() if mark.changed_at < cutoff]
        for user in stale:
            del self._marks[user]


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a family; only its digest is stored, never the token itself."""

    id: UUID
    family_id: UUID
    user_id: UUID
    token_digest: str
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.rotated_at is None and self.revoked_at is None
