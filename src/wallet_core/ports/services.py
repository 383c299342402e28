"""Small ports: time, ids, hashing, tokens and the cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar
from uuid import UUID

from wallet_core.users import User

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A UUIDv7: unique, and sorting by creation time."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def burn(self, password: str) -> None:
        """Spend the time of one verification, so unknown users answer as slowly as known ones."""
        ...


class SecretHasher(Protocol):
    """Keyed, deterministic digest for one-time secrets (withdrawal codes), so they can be looked
    up without being stored."""

    def digest(self, secret: str) -> str: ...

    def candidates(self, secret: str) -> tuple[str, ...]:
        """Every digest a stored ``secret`` may have: the current key's first, then those of
        keys being rotated out (a code issued before a rotation must still be found)."""
        ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    email: str
    is_staff: bool
    token_id: str
    expires_at: datetime
    #: The user's session generation when the token was issued (see ``wallet_core.sessions``).
    session_generation: int = 0


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class TokenIssuer(Protocol):
    def issue_access(
        self, user: User, now: datetime, session_generation: int = 0
    ) -> IssuedAccessToken: ...

    def verify_access(self, token: str, now: datetime) -> AccessClaims:
        """Raise ``NotAuthenticated`` on anything but a valid, unexpired access token."""
        ...


class Cache(Protocol):
    """A best-effort byte cache. Adapters swallow outages: a miss is always a safe answer."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        """The values (None where missing), or None when the cache could not be reached."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> bool:
        """False when the cache could not be reached."""
        ...

    async def incr(self, keys: Sequence[str]) -> bool:
        """Increment counters; False when the cache could not be reached."""
        ...
