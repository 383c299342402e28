"""Test databases: each test run (and each module that needs isolation) gets its own."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.sql.migrate import upgrade

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _server_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _connect_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_server_dsn(TEST_DATABASE_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {TEST_DATABASE_URL} ({exc}). "
            f"Start it with: {START_POSTGRES}  (or set TEST_DATABASE_URL)",
            pytrace=False,
        )


async def create_database(prefix: str = "wallet_test") -> str:
    """A new database on the test server, migrated to head; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await _connect_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    return url


async def drop_database(url: str) -> None:
    admin = await _connect_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()
