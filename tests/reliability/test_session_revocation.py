"""Session revocation across processes (docs/api.md "Authentication"): a revocation made through
one API process is honoured by every other within one second, with Redis, with Redis down, and in
the embedded mode (SQLite, no Redis).

The servers are real ``wallet serve`` processes sharing one PostgreSQL database and a private
``redis-server`` that the tests can kill. "Within one second" is checked the way a client sees it:
from the moment the revoking request was answered, the other process is asked again and again; a
request it receives a full second later must be refused. How long it actually took is printed
(``-s``), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from faults import RedisServer, private_redis

from adapters.sql.migrate import upgrade
from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from environment import app_environment
from servers import free_port
from support import PASSWORD, new_name, new_phone
from wallet_core.services.auth import Registration

WITHIN_SECONDS = 1.0
WALLETS = "/api/v1/wallet"
USERS = "/api/v1/users"


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    url = await create_database("wallet_revocation")
    yield url
    await drop_database(url)


async def wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Until ``/health/ready`` answers 200 (a loaded machine may need a while to import)."""
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline and process.returncode is None:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"the server did not come up:\n{log.read_text()[-3000:]}")


@contextlib.asynccontextmanager
async def api_server(env: dict[str, str], workdir: Path, name: str) -> AsyncIterator[str]:
    """``wallet serve`` in a process group of its own, so that no worker outlives the test."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            cwd=workdir,  # no stray .env
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await wait_ready(base, process, log)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        print(f"--- {name} ---\n{log.read_text()[-3000:]}")


@dataclass
class Cluster:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    redis: RedisServer
    staff: dict[str, str]


async def register(http: httpx.AsyncClient) -> dict[str, Any]:
    name = new_name()
    body = {
        "email": f"{name}@example.com",
        "username": name,
        "password": PASSWORD,
        "phone_number": new_phone(),
    }
    created = await http.post("/api/v1/auth/register", json=body)
    assert created.status_code == 201, created.text
    return {**created.json()["user"], "headers": await log_in(http, body["email"])}


async def log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create_staff(database_url: str) -> tuple[str, str]:
    settings = load_settings(app_environment(DATABASE_URL=database_url), env_file=None)
    container = build(settings)
    try:
        name = new_name("staff")
        user, _ = await container.core.auth.register(
            Registration(f"{name}@example.com", name, PASSWORD, new_phone(), is_staff=True)
        )
    finally:
        await container.close()
    return user.email, str(user.id)


@pytest.fixture(scope="module")
async def cluster(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """Two API processes (A and B) on one database and one Redis, for the whole module (the
    Redis outage test restarts Redis before it ends)."""
    tmp_path = tmp_path_factory.mktemp("revocation")
    async with private_redis() as redis:
        env = {
            **os.environ,
            **app_environment(
                DATABASE_URL=database_url, REDIS_URL=f"redis://127.0.0.1:{redis.port}/0"
            ),
        }
        email, _ = await create_staff(database_url)
        async with (
            api_server(env, tmp_path, "a") as a_base,
            api_server(env, tmp_path, "b") as b_base,
            httpx.AsyncClient(base_url=a_base, timeout=10) as a,
            httpx.AsyncClient(base_url=b_base, timeout=10) as b,
        ):
            yield Cluster(a, b, redis, await log_in(a, email))


async def refused_within(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], answered_at: float
) -> float:
    """Ask until refused; a request sent after the deadline must be. Returns the delay seen."""
    deadline = answered_at + WITHIN_SECONDS
    while True:
        sent = time.monotonic()
        response = await http.get(path, headers=headers)
        if response.status_code == 401:
            assert response.json()["code"] == "token_revoked", response.text
            return sent - answered_at
        assert response.status_code == 200, response.text
        assert sent < deadline, f"still accepted {sent - answered_at:.3f}s after the revocation"
        await asyncio.sleep(0.02)


async def deactivate(cluster: Cluster, user_id: str) -> float:
    response = await cluster.a.patch(
        f"{USERS}/{user_id}", json={"is_active": False}, headers=cluster.staff
    )
    assert response.status_code == 200, response.text
    return time.monotonic()


async def test_a_deactivation_through_one_process_is_honoured_by_another_within_a_second(
    cluster: Cluster,
) -> None:
    alice = await register(cluster.a)
    assert (await cluster.b.get(WALLETS, headers=alice["headers"])).status_code == 200
    delay = await refused_within(
        cluster.b, WALLETS, alice["headers"], await deactivate(cluster, alice["id"])
    )
    print(f"deactivation reached B after {delay * 1000:.1f} ms (Redis up)")


async def test_a_password_change_through_one_process_is_honoured_by_another(
    cluster: Cluster,
) -> None:
    alice = await register(cluster.a)
    assert (await cluster.b.get(WALLETS, headers=alice["headers"])).status_code == 200
    changed = await cluster.a.patch(
        f"{USERS}/me",
        json={"password": "a brand new passphrase 42", "current_password": PASSWORD},
        headers=alice["headers"],
    )
    assert changed.status_code == 200, changed.text
    delay = await refused_within(cluster.b, WALLETS, alice["headers"], time.monotonic())
    print(f"password change reached B after {delay * 1000:.1f} ms")
    fresh = await log_in(cluster.b, alice["email"], "a brand new passphrase 42")
    assert (await cluster.a.get(WALLETS, headers=fresh)).status_code == 200


async def test_losing_the_staff_role_through_one_process_is_honoured_by_another(
    cluster: Cluster,
) -> None:
    eve = await register(cluster.a)
    promoted = await cluster.a.patch(
        f"{USERS}/{eve['id']}", json={"is_staff": True}, headers=cluster.staff
    )
    assert promoted.status_code == 200, promoted.text
    as_staff = await log_in(cluster.a, eve["email"])
    assert (await cluster.b.get(USERS, headers=as_staff)).status_code == 200
    demoted = await cluster.a.patch(
        f"{USERS}/{eve['id']}", json={"is_staff": False}, headers=cluster.staff
    )
    assert demoted.status_code == 200, demoted.text
    await refused_within(cluster.b, USERS, as_staff, time.monotonic())


async def test_the_embedded_mode_honours_a_revocation_in_every_process(tmp_path: Path) -> None:
    """No Redis, one SQLite file, two API processes (as ``wallet serve --workers 2`` runs):
    the other process learns the mark from its database poll."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = load_settings(app_environment(DATABASE_URL=url), env_file=None)
    assert settings.embedded
    email, _ = await create_staff(url)
    first = create_app(settings, run_background_jobs=False)
    second = create_app(settings, run_background_jobs=False)
    async with (
        first.lifespan(),
        second.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        staff = await log_in(a, email)
        alice = await register(a)
        assert (await b.get(WALLETS, headers=alice["headers"])).status_code == 200
        response = await a.patch(f"{USERS}/{alice['id']}", json={"is_active": False}, headers=staff)
        assert response.status_code == 200, response.text
        delay = await refused_within(b, WALLETS, alice["headers"], time.monotonic())
        print(f"deactivation reached the other embedded process after {delay * 1000:.1f} ms")


async def wait_for_redis_state(http: httpx.AsyncClient, up: bool) -> None:
    for _ in range(100):
        checks = (await http.get("/health/ready")).json().get("checks", {})
        if (checks.get("redis") == "ok") is up:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"redis never became {'up' if up else 'down'}: {checks}")


async def test_with_redis_down_a_revocation_still_reaches_every_process(cluster: Cluster) -> None:
    """Without the feed each process's marks go stale within a second, so it polls the
    database (twice a second) and, until a poll succeeds, checks each token there."""
    alice, bob = await register(cluster.a), await register(cluster.a)
    cluster.redis.kill()
    try:
        await wait_for_redis_state(cluster.b, up=False)
        await wait_for_redis_state(cluster.a, up=False)
        assert (await cluster.b.get(WALLETS, headers=alice["headers"])).status_code == 200

        delay = await refused_within(
            cluster.b, WALLETS, alice["headers"], await deactivate(cluster, alice["id"])
        )
        print(f"deactivation reached B after {delay * 1000:.1f} ms (Redis down)")
    finally:
        await cluster.redis.start()  # same port: the feed resubscribes and catches up
    await wait_for_redis_state(cluster.b, up=True)
    assert (await cluster.b.get(WALLETS, headers=alice["headers"])).status_code == 401
    assert (await cluster.b.get(WALLETS, headers=bob["headers"])).status_code == 200
    delay = await refused_within(
        cluster.b, WALLETS, bob["headers"], await deactivate(cluster, bob["id"])
    )
    print(f"deactivation reached B after {delay * 1000:.1f} ms (Redis back)")
