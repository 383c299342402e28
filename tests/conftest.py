"""Shared fixtures: a fresh PostgreSQL database and an isolated Redis per test run, the app, and
an HTTP client driving it in-process (httpx over ASGI, inside the app's lifespan).

Nothing here is created until a test asks for it, so the core's unit tests run without any
server. When PostgreSQL or Redis cannot be reached the run fails and says how to start them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from databases import create_database, drop_database
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, load_settings
from environment import app_environment
from support import Api
from wallet_core.local import MemoryNotifier

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database of its own for this run, migrated to head, dropped at the end."""
    url = await create_database()
    yield url
    await drop_database(url)


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
    built.start()  # what the app's lifespan does: keep the session marks current
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
