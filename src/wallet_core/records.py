"""Plain records the use cases keep besides the ledger: refresh tokens and the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


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


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification to send after commit, written in the same unit of work as the change."""

    id: UUID
    kind: str
    user_id: UUID
    created_at: datetime
    payload: Mapping[str, str] = field(default_factory=dict)
    dispatched_at: datetime | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    #: After a failed delivery: not to be dispatched again before this time (backoff).
    next_attempt_at: datetime | None = None
