"""The PostgreSQL money path's failure modes, on a real server: a database that refuses new
connections is the client's retryable 503, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.sql.pg_ledger import AsyncpgLedger
from wallet_core.errors import ServiceUnavailable


def _dsn(url: str, **changes: object) -> str:
    return (
        make_url(url).set(drivername="postgresql", **changes).render_as_string(hide_password=False)
    )


@pytest.fixture
async def one_connection_role(database_url: str) -> AsyncIterator[str]:
    """A role the server lets open one connection at a time."""
    role = f"wallet_one_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(database_url))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
        await admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
        yield role
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_too_many_connections_is_a_503(database_url: str, one_connection_role: str) -> None:
    dsn = _dsn(database_url, username=one_connection_role)
    holder = await asyncpg.connect(dsn)  # takes the role's only connection
    ledger = AsyncpgLedger(dsn, pool_size=2)
    try:
        with pytest.raises(ServiceUnavailable):
            await ledger.transaction(uuid.uuid4())
    finally:
        await holder.close()
    try:
        assert await ledger.transaction(uuid.uuid4()) is None  # and it recovers by itself
    finally:
        await ledger.close()
