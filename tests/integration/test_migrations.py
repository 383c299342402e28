"""Migrations: every revision upgrades and downgrades cleanly on a real PostgreSQL (the
"stairway"), the models and the migrations agree (autogenerate finds nothing to do), and the
database itself refuses to change a ledger entry."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from adapters.sql.engine import create_engine
from adapters.sql.migrate import alembic_config, downgrade, upgrade
from adapters.sql.records import Base
from entrypoints.bootstrap import Container
from support import Api

SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A fresh, empty database for one test (the session database is already migrated)."""
    name = f"wallet_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_execute(SERVER, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_stairway_upgrade_and_downgrade_every_revision(empty_database: str) -> None:
    revisions = _revisions()
    assert revisions, "no migrations found"
    previous = "base"
    for revision in revisions:
        upgrade(empty_database, revision)
        downgrade(empty_database, previous)
        upgrade(empty_database, revision)
        previous = revision
    downgrade(empty_database, "base")
    upgrade(empty_database)


def _schema_diff(url: str) -> list[Any]:
    async def compare() -> list[Any]:
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:

                def run(sync_conn: Any) -> list[Any]:
                    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                    return list(compare_metadata(context, Base.metadata))

                return await conn.run_sync(run)
        finally:
            await engine.dispose()

    return asyncio.run(compare())


def test_models_and_migrations_agree(empty_database: str) -> None:
    upgrade(empty_database)
    assert _schema_diff(empty_database) == []


async def test_the_database_refuses_to_change_an_entry(
    api: Api, container: Container, database_url: str
) -> None:
    person = await api.person()
    deposit = await api.fund(person, "5.00")
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        for statement in (
            "UPDATE entries SET delta = delta + 1 WHERE transaction_id = $1",
            "DELETE FROM entries WHERE transaction_id = $1",
        ):
            with pytest.raises(asyncpg.PostgresError, match="immutable"):
                await conn.execute(statement, uuid.UUID(deposit["id"]))
        count = await conn.fetchval(
            "SELECT count(*) FROM entries WHERE transaction_id = $1", uuid.UUID(deposit["id"])
        )
        assert count == 2
    finally:
        await conn.close()
    assert (await container.core.audit.run()).ok
