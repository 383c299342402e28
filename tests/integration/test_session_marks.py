"""The session-mark storage port on the in-memory adapter, PostgreSQL and SQLite: generations
start at 1 and advance atomically (concurrent revocations never lose one), and the poll reads
exactly the marks changed since its instant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.migrate import upgrade
from adapters.sql.storage import SqlStorage
from databases import create_database, drop_database
from support import new_name, new_phone
from wallet_core.local import Uuid7Generator
from wallet_core.ports import Storage, UnitOfWork
from wallet_core.sessions import SessionMark
from wallet_core.testing.storage import MemoryStorage
from wallet_core.users import User

IDS = Uuid7Generator()
NOW = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "marks.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    url = await create_database("wallet_marks")
    yield url
    await drop_database(url)


@pytest.fixture(params=["memory", "postgres", "sqlite"])
async def storage(
    request: pytest.FixtureRequest, postgres_url: str, sqlite_url: str
) -> AsyncIterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage(IDS.new_id, lambda: NOW)
        return
    url = postgres_url if request.param == "postgres" else sqlite_url
    sql = SqlStorage(create_engine(url, pool_size=5, max_overflow=5))
    yield sql
    await sql.close()


async def a_user(storage: Storage) -> User:
    name = new_name()
    user = User(IDS.new_id(), f"{name}@example.com", name, new_phone(), "hash", NOW, NOW)

    async def work(uow: UnitOfWork) -> None:
        await uow.users.add(user)

    await storage.run(work)
    return user


async def advance(storage: Storage, user: User, at: datetime) -> SessionMark:
    async def work(uow: UnitOfWork) -> SessionMark:
        return await uow.session_marks.advance(user.id, at)

    return await storage.run(work)


async def test_generations_start_at_one_and_advance(storage: Storage) -> None:
    user = await a_user(storage)

    async def read(uow: UnitOfWork) -> SessionMark | None:
        return await uow.session_marks.get(user.id)

    assert await storage.run_read(read) is None
    first = await advance(storage, user, NOW)
    second = await advance(storage, user, NOW + timedelta(seconds=1))
    assert (first.generation, second.generation) == (1, 2)
    assert await storage.run_read(read) == SessionMark(user.id, 2, NOW + timedelta(seconds=1))


async def test_concurrent_advances_are_never_lost(storage: Storage) -> None:
    user = await a_user(storage)
    marks = await asyncio.gather(*(advance(storage, user, NOW) for _ in range(12)))
    assert sorted(m.generation for m in marks) == list(range(1, 13))


async def test_changed_since_reads_the_marks_changed_at_or_after_the_instant(
    storage: Storage,
) -> None:
    early, late = await a_user(storage), await a_user(storage)
    base = NOW + timedelta(days=1)  # after every other test's marks
    await advance(storage, early, base)
    await advance(storage, late, base + timedelta(microseconds=1))

    async def since(at: datetime) -> set[tuple[object, int]]:
        async def work(uow: UnitOfWork) -> list[SessionMark]:
            return await uow.session_marks.changed_since(at)

        return {(m.user_id, m.generation) for m in await storage.run_read(work)}

    assert await since(base) == {(early.id, 1), (late.id, 1)}
    assert await since(base + timedelta(microseconds=1)) == {(late.id, 1)}
    assert await since(base + timedelta(seconds=1)) == set()
