"""The SQL :class:`~wallet_core.ports.Storage`: one transaction per unit of work, with retries.

On Postgres, a serialization failure or deadlock re-runs the unit of work a bounded number of
times with jittered backoff, so it never reaches a client as a 500. A database that cannot be
reached surfaces as the core's ``ServiceUnavailable`` (a retryable 503), and the pool recovers on
its own once the server is back.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.repositories import SqlUnitOfWork
from wallet_core.errors import ServiceUnavailable, ValidationFailed
from wallet_core.ports import UnitOfWork

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
#: Connection exceptions, insufficient resources (too many connections), operator intervention.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
#: character_not_in_repertoire: PostgreSQL text cannot hold NUL (U+0000), which JSON and query
#: strings can carry. That is the client's bad input (400), not our fault (500).
UNREPRESENTABLE_TEXT_SQLSTATE = "22021"


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a driver error, wherever the wrapping put it."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def is_retryable(error: BaseException) -> bool:
    state = sqlstate(error)
    if state in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(getattr(error, "orig", error)).lower()


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = sqlstate(error)
    if state is not None and state.startswith(UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError | PoolTimeout | asyncio.TimeoutError | ConnectionError):
            return True
        cause = cause.__cause__
    return isinstance(error, InterfaceError) and "connect" in str(error).lower()


class SqlStorage:
    def __init__(self, engine: AsyncEngine, *, max_attempts: int = 8) -> None:
        self.engine = engine
        self._max_attempts = max_attempts
        self._is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time; queueing here beats spinning on "database is locked".
        self._serial = None if self._is_postgres else asyncio.Lock()

    @asynccontextmanager
    async def _transaction(self, mode: str) -> AsyncIterator[AsyncConnection]:
        async with self._serial or nullcontext(), self.engine.connect() as conn:
            if mode == "read" and self._is_postgres:
                conn = await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            async with conn.begin():
                yield conn

    async def _attempt(self, work: Callable[[UnitOfWork], Awaitable[T]], mode: str) -> T:
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with self._transaction(mode) as conn:
                    return await work(SqlUnitOfWork(conn))
            except (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if is_retryable(exc) and attempt < self._max_attempts:
                    await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                if is_unavailable(exc):
                    raise ServiceUnavailable("The database is unavailable; retry shortly.") from exc
                if sqlstate(exc) == UNREPRESENTABLE_TEXT_SQLSTATE:
                    raise ValidationFailed(
                        "Text must not contain NUL (U+0000) characters."
                    ) from exc
                raise
            except (TimeoutError, OSError, PoolTimeout, ConnectionError) as exc:
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        return await self._attempt(work, "write")

    async def run_read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        return await self._attempt(work, "read")

    async def ping(self) -> None:
        """Raise unless the database answers (for readiness checks)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
