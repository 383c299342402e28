"""The ``wallet`` command against a real database: create-admin, expire, audit (clean, and
exit 1 when an account no longer matches its entries), migrate and --help."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from environment import app_environment
from support import PASSWORD, new_name, new_phone
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """Its own database: the audit test corrupts a row on purpose."""
    url = await create_database("wallet_cli")
    yield url
    await drop_database(url)


async def wallet(url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env = {**os.environ, **app_environment(DATABASE_URL=url)}
    env.pop("REDIS_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate(stdin.encode() if stdin else None)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_help_lists_every_command() -> None:
    code, out = await wallet("sqlite+aiosqlite:///unused.db", "--help")
    assert code == 0
    for command in ("serve", "migrate", "worker", "scheduler", "expire", "create-admin", "audit"):
        assert command in out


async def test_migrate_is_idempotent(own_database: str) -> None:
    for _ in range(2):
        code, out = await wallet(own_database, "migrate")
        assert code == 0, out


async def test_create_admin_makes_a_staff_user(own_database: str) -> None:
    name = new_name("admin")
    code, out = await wallet(
        own_database,
        "create-admin",
        "--email",
        f"{name}@example.com",
        "--username",
        name,
        "--phone",
        new_phone(),
        "--password",
        PASSWORD,
    )
    assert code == 0, out
    container = build(load_settings(app_environment(DATABASE_URL=own_database), env_file=None))
    try:
        tokens = await container.core.auth.login(name, PASSWORD)
        actor = container.core.auth.authenticate(tokens.access_token)
        assert actor.is_staff
    finally:
        await container.close()
    again, out = await wallet(
        own_database,
        "create-admin",
        "--email",
        f"{name}@example.com",
        "--username",
        name,
        "--phone",
        new_phone(),
        "--password",
        PASSWORD,
    )
    assert again == 1
    assert "already_exists" in out


async def test_expire_and_audit_then_audit_catches_a_tampered_account(own_database: str) -> None:
    settings = load_settings(
        app_environment(DATABASE_URL=own_database, TRANSFER_EXPIRY_SECONDS="1"), env_file=None
    )
    container = build(settings)
    try:
        core = container.core
        staff, _ = await core.auth.register(
            Registration(f"{new_name()}@x.io", new_name("s"), PASSWORD, new_phone(), is_staff=True)
        )
        alice, wallet_a = await core.auth.register(
            Registration(f"{new_name()}@x.io", new_name("a"), PASSWORD, new_phone())
        )
        _, wallet_b = await core.auth.register(
            Registration(f"{new_name()}@x.io", new_name("b"), PASSWORD, new_phone())
        )
        await core.transfers.deposit(Actor(staff.id, True), amount="5.00", wallet_id=wallet_a.id)
        await core.transfers.create_transfer(
            Actor(alice.id), amount="2.00", recipient=str(wallet_b.id)
        )
    finally:
        await container.close()
    await asyncio.sleep(1.2)
    code, out = await wallet(own_database, "expire")
    assert code == 0, out
    assert "expired 1 transaction" in out
    code, out = await wallet(own_database, "audit")
    assert code == 0, out
    assert "audit clean" in out

    dsn = make_url(own_database).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE id = $1", wallet_a.id
        )
    finally:
        await conn.close()
    code, out = await wallet(own_database, "audit")
    assert code == 1
    assert "AUDIT FAILED" in out
    assert str(wallet_a.id) in out
