"""Idempotency keys: the first outcome is stored with the change it caused; retries replay it.

``begin`` claims a key in its own short transaction (so a concurrent duplicate sees it in flight);
the use case stores the outcome through an :class:`OutcomeRecorder` inside its own unit of work, so
the outcome and the money movement commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from wallet_core.errors import (
    DomainError,
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from wallet_core.ports import UnitOfWork
from wallet_core.records import IdempotencyRecord, IdempotencyState
from wallet_core.services.context import Context

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class OutcomeRecorder(Protocol[T_contra]):
    """Called by a use case inside its unit of work with its result (or the error it commits)."""

    async def __call__(self, uow: UnitOfWork, outcome: T_contra | DomainError) -> None: ...


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: bytes


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(32 < ord(ch) < 127 for ch in key):
        raise IdempotencyKeyInvalid()
    return key


Renderer = Callable[[T | DomainError], tuple[int, bytes]]


class StoreOutcome(Generic[T]):
    """An :class:`OutcomeRecorder` that renders the outcome to (status, body) and stores it."""

    def __init__(self, claim: IdempotencyRecord, render: Renderer[T]) -> None:
        self.claim = claim
        self._render = render
        self.stored = False

    async def __call__(self, uow: UnitOfWork, outcome: T | DomainError) -> None:
        status, body = self._render(outcome)
        if not await uow.idempotency.complete(self.claim.completed(status, body)):
            raise IdempotencyKeyInProgress(
                "This Idempotency-Key was taken over by a retry; the request was not applied."
            )
        self.stored = True


class IdempotencyService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def begin(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | Replay:
        """Claim the key, or return the stored outcome of the first request with it."""
        now = self._ctx.clock.now()
        policy = self._ctx.policy
        claim = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint,
            claim_id=self._ctx.ids.new_id(),
            state=IdempotencyState.IN_FLIGHT,
            created_at=now,
            expires_at=now + policy.idempotency_ttl,
            locked_until=now + policy.idempotency_lock,
        )

        async def work(uow: UnitOfWork) -> IdempotencyRecord | Replay:
            existing = await uow.idempotency.insert_if_absent(claim)
            if existing is None:
                return claim
            if existing.expires_at <= now:
                if await uow.idempotency.replace(existing, claim):
                    return claim
                raise IdempotencyKeyInProgress()
            if existing.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if existing.state is IdempotencyState.COMPLETED:
                assert existing.response_status is not None
                return Replay(existing.response_status, existing.response_body or b"")
            if existing.locked_until <= now and await uow.idempotency.replace(existing, claim):
                return claim
            raise IdempotencyKeyInProgress()

        return await self._ctx.storage.run_each(work)

    def recorder(self, claim: IdempotencyRecord, render: Renderer[T]) -> StoreOutcome[T]:
        return StoreOutcome(claim, render)

    async def record(self, claim: IdempotencyRecord, status: int, body: bytes) -> None:
        """Store an outcome that no unit of work committed (a business error that rolled back)."""

        async def work(uow: UnitOfWork) -> None:
            await uow.idempotency.complete(claim.completed(status, body))

        await self._ctx.storage.run_each(work)

    async def release(self, claim: IdempotencyRecord) -> None:
        """Forget an in-flight claim after a failure of ours, so the client can retry."""

        async def work(uow: UnitOfWork) -> None:
            await uow.idempotency.release(claim)

        await self._ctx.storage.run_each(work)

    async def purge_expired(self, batch: int = 1000) -> int:
        """Delete records past their retention, in batches; returns how many went."""

        async def work(uow: UnitOfWork) -> int:
            return await uow.idempotency.delete_expired(self._ctx.clock.now(), batch)

        total = 0
        while True:
            deleted = await self._ctx.storage.run(work)
            total += deleted
            if deleted < batch:
                return total
