"""Shared fixtures: a fresh PostgreSQL database and an isolated Redis per test run, the app, and
an HTTP client driving it in-process (httpx over ASGI, inside the app's lifespan).

Nothing here is created until a test asks for it, so the core's unit tests run without any
server. When PostgreSQL or Redis cannot be reached the run fails and says how to start them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from adapters.sql.migrate import upgrade
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings
from environment import app_environment
from support import Api
from wallet_core.memory import MemoryNotifier

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


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


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database of its own for this run, migrated to head, dropped at the end."""
    name = f"wallet_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await _connect_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    yield url
    admin = await _connect_admin()
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def redis_url() -> AsyncIterator[str]:
    """A dedicated Redis database index, flushed before and after the run."""
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(
            f"Redis is not reachable at {TEST_REDIS_URL} ({exc}). "
            f"Start it with: {START_REDIS}  (or set TEST_REDIS_URL)",
            pytrace=False,
        )
    await client.flushdb()
    yield TEST_REDIS_URL
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def make_settings(database_url: str, redis_url: str) -> Callable[..., Settings]:
    def make(**extra: str) -> Settings:
        env = app_environment(DATABASE_URL=database_url, REDIS_URL=redis_url)
        env.update(extra)
        return load_settings({k: v for k, v in env.items() if v is not None}, env_file=None)

    return make


@pytest.fixture(scope="session")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def container(settings: Settings) -> AsyncIterator[Container]:
    built = build(settings, notifier=MemoryNotifier())
    yield built
    await built.close()


@pytest.fixture(scope="session")
async def client(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    # The container is shared and already built, so the app needs no lifespan run here (an
    # anyio lifespan cannot span a session fixture's setup and teardown tasks).
    app = create_app(settings, container, run_background_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def api(client: httpx.AsyncClient, container: Container) -> Api:
    return Api(client, container)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Tests that touch storage say so, and run after the quick ones."""
    items.sort(key=lambda item: 0 if "/unit/" in str(item.fspath) else 1)
