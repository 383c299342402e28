"""Alembic environment: runs migrations on the async engine given by ``wallet migrate``."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SAWarning

from adapters.sql.engine import create_engine
from adapters.sql.records import Base

config = context.config
target_metadata = Base.metadata

# A batch migration on SQLite reflects the tables it rebuilds; SQLAlchemy cannot reflect the
# expression index on lower(username) and says so on every fresh embedded start. The index is
# not part of any rebuilt table's copy (it lives on ``users``, which no batch rebuilds), so the
# warning tells a newcomer nothing.
warnings.filterwarnings(
    "ignore", message="Skipped unsupported reflection of expression-based index", category=SAWarning
)


def _sqlite_pragma(connection: Connection, pragma: str) -> list[Any]:
    """A pragma on the raw connection (which runs in autocommit mode: SQLite ignores
    ``foreign_keys`` inside a transaction)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations rebuild a table (copy, drop, rename); with foreign keys enforced the
        # drop fails as soon as another table's rows point at it. Checked once at the end.
        _sqlite_pragma(connection, "foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = _sqlite_pragma(connection, "foreign_key_check")
        if broken:
            raise RuntimeError(f"migrations left rows with dangling foreign keys: {broken[:5]}")


async def _run_async(url: str) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _main() -> None:
    url: Any = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(str(url)))


_main()
