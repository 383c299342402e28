"""Idempotency keys: the first request's outcome is stored with the change it caused, as an
opaque receipt sealed by the caller; a retry with the same key gets that receipt back.

The claim and the outcome are one row written in the same transaction as the change (a money
movement's single write), so a duplicate either finds the outcome, or sees the first request in
flight; a failure rolls the claim back with everything else and leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from wallet_core.errors import (
    BusinessRuleViolation,
    Conflict,
    DomainError,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from wallet_core.journal import Receipt, StoredReceipt, Written
from wallet_core.ports import UnitOfWork
from wallet_core.services.context import Context

T = TypeVar("T")

#: Outcomes that are the client's answer (and so are kept for retries): not our own failures.
STORED_ERRORS = (
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    NotFound,
    Conflict,
    BusinessRuleViolation,
)


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A request's idempotency key, and how to seal an outcome (the result, or the
    :class:`DomainError` it ended with) into the receipt kept for its retries."""

    scope: str
    key: str
    fingerprint: str
    seal: Callable[[object], bytes]

    def receipt(self, outcome: object, now: datetime, ttl: timedelta) -> Receipt:
        return Receipt(self.scope, self.key, self.fingerprint, self.seal(outcome), now, now + ttl)

    def replay(self, stored: StoredReceipt) -> Replayed:
        if stored.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused()
        return Replayed(stored.body)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The receipt of the first request with this key: nothing was done this time."""

    receipt: bytes


def is_stored(error: DomainError) -> bool:
    return isinstance(error, STORED_ERRORS)


class _Taken(Exception):
    def __init__(self, written: Written) -> None:
        super().__init__(written.value)
        self.written = written


async def run_once(
    ctx: Context, idempotency: Idempotency | None, work: Callable[[UnitOfWork], Awaitable[T]]
) -> T | Replayed:
    """A unit of work (not a money movement: those go through ``movements.execute``) whose
    outcome is kept under an idempotency key, the receipt claimed in the same transaction."""
    if idempotency is None:
        return await ctx.storage.run(work)
    key = idempotency

    async def claimed(uow: UnitOfWork) -> T:
        now = ctx.clock.now()
        started = await uow.receipts.begin(key.scope, key.key, now)
        if started is not Written.APPLIED:
            raise _Taken(started)
        result = await work(uow)
        written = await uow.receipts.claim(key.receipt(result, now, ctx.policy.idempotency_ttl))
        if written is not Written.APPLIED:
            raise _Taken(written)
        return result

    try:
        return await ctx.storage.run(claimed)
    except _Taken as taken:
        return await _answer(ctx, key, taken.written)
    except DomainError as error:
        if not is_stored(error):
            raise
        receipt = key.receipt(error, ctx.clock.now(), ctx.policy.idempotency_ttl)

        async def keep(uow: UnitOfWork) -> Written:
            return await uow.receipts.claim(receipt)

        written = await ctx.storage.run(keep)
        if written is Written.APPLIED:
            raise
        return await _answer(ctx, key, written)


async def _answer(ctx: Context, key: Idempotency, written: Written) -> Replayed:
    if written is Written.DUPLICATE:
        stored = await ctx.ledger.receipt(key.scope, key.key, ctx.clock.now())
        if stored is not None:
            return key.replay(stored)
    raise IdempotencyKeyInProgress()


class IdempotencyService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def purge_expired(self, batch: int = 1000) -> int:
        """Delete receipts past their retention, in batches; returns how many went."""

        async def work(uow: UnitOfWork) -> int:
            return await uow.receipts.delete_expired(self._ctx.clock.now(), batch)

        total = 0
        while True:
            deleted = await self._ctx.storage.run(work)
            total += deleted
            if deleted < batch:
                return total
