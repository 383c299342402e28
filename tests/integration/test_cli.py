"""The ``wallet`` command against a real database, as a subprocess: create-admin, expire, audit
(a table; clean, and exit 1 when an account no longer matches its entries), migrate, demo, every
command's help, and the one-line errors with their exit codes."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from adapters.sql.migrate import alembic_config, database_revisions, script_heads
from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.cli.common import ENV_DEFAULTS
from entrypoints.cli.demo import DEMO_PASSWORD
from entrypoints.settings import KNOWN_VARIABLES, load_settings
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


async def wallet(
    url: str,
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    **variables: str,
) -> tuple[int, str]:
    env = {**os.environ, **app_environment(DATABASE_URL=url, **variables)}
    env.pop("REDIS_URL", None)
    env.pop("WALLET_ADMIN_PASSWORD", None)
    env.update(variables)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli",
        *args,
        cwd=cwd,
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
        await core.deposits.manual(Actor(staff.id, True), amount="5.00", wallet_id=wallet_a.id)
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
    table = dict(
        line.rsplit(maxsplit=1) for line in out.splitlines() if line.startswith(("accounts", "w"))
    )
    assert table["accounts checked"].strip() != "0"
    assert table["wallet balances USD"] == "5.00"  # the deposit; the expired transfer moved none
    assert "audit: accounts read" in out  # the progress, on stderr

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


# Help, errors and exit codes -----------------------------------------------------------------

COMMANDS = ("serve", "migrate", "worker", "scheduler", "expire", "audit", "create-admin", "demo")


@pytest.mark.parametrize("command", [*COMMANDS, "sign-webhook"])
async def test_every_command_has_a_paragraph_of_help_naming_its_variables(command: str) -> None:
    code, out = await wallet("sqlite+aiosqlite:///unused.db", command, "--help")
    assert code == 0, out
    description = out.split("\n\n")[1]
    assert len(description.split()) >= 25, description  # a paragraph, not a phrase
    environment = out.split("Environment (also read from ./.env")[1].split("Options:")[0]
    named = {line.split()[0] for line in environment.strip().splitlines()[1:]}
    assert named, out
    assert named <= KNOWN_VARIABLES
    if command == "serve":
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= named
        assert "[default: 8000" in out
        assert "[default: 127.0.0.1]" in out


def test_the_help_defaults_name_only_real_variables() -> None:
    assert set(ENV_DEFAULTS) <= KNOWN_VARIABLES


def one_line(out: str) -> str:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


async def test_serve_on_a_busy_port_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await wallet(
            f"sqlite+aiosqlite:///{tmp_path}/w.db", "serve", "--port", str(port), cwd=tmp_path
        )
    assert code == 1
    assert one_line(out).startswith(f"error: port {port} on 127.0.0.1 is already in use")


async def test_a_bad_setting_is_one_line_and_exit_code_2() -> None:
    code, out = await wallet("sqlite+aiosqlite:///unused.db", "audit", CACHE_TTL_SECONDS="soon")
    assert code == 2
    assert one_line(out) == "error: configuration: CACHE_TTL_SECONDS must be an integer, got 'soon'"


async def test_an_unreachable_database_is_one_line_and_exit_code_1() -> None:
    code, out = await wallet("postgresql://postgres@127.0.0.1:1/nowhere", "audit")
    assert code == 1
    assert one_line(out).startswith("error: cannot use the database: ")


async def test_worker_and_scheduler_without_redis_say_so(tmp_path: Path) -> None:
    for command in ("worker", "scheduler"):
        code, out = await wallet(f"sqlite+aiosqlite:///{tmp_path}/w.db", command)
        assert code == 2
        assert one_line(out).startswith("error: REDIS_URL is not set")


async def test_create_admin_without_a_terminal_reads_the_variable_or_says_how(
    own_database: str,
) -> None:
    name = new_name("admin")
    identity = ("--email", f"{name}@example.com", "--username", name, "--phone", new_phone())
    code, out = await wallet(own_database, "create-admin", *identity, stdin="")
    assert code == 2
    assert "WALLET_ADMIN_PASSWORD" in one_line(out)
    assert "EOFError" not in out
    code, out = await wallet(
        own_database, "create-admin", *identity, WALLET_ADMIN_PASSWORD=PASSWORD
    )
    assert code == 0, out
    container = build(load_settings(app_environment(DATABASE_URL=own_database), env_file=None))
    try:
        tokens = await container.core.auth.login(name, PASSWORD)
        assert container.core.auth.authenticate(tokens.access_token).is_staff
    finally:
        await container.close()


async def test_migrate_knows_a_database_already_at_head(own_database: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(own_database))
    assert script_heads() == set(script.get_heads())
    # (It runs its own event loop, as the command does.)
    assert await asyncio.to_thread(database_revisions, own_database) == set(script.get_heads())
    code, out = await wallet(own_database, "migrate")
    assert code == 0, out
    assert "(it already was)" in out


async def test_demo_seeds_two_funded_users_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    code, out = await wallet(url, "demo", cwd=tmp_path)
    assert code == 0, out
    assert "alice" in out and "bob" in out and "created" in out
    assert "curl" in out  # what to try
    code, out = await wallet(url, "demo", cwd=tmp_path)
    assert code == 0, out
    assert out.count("already there") == 2
    code, out = await wallet(url, "audit", cwd=tmp_path)
    assert code == 0, out
    assert "200.00" in out  # two deposits of 100.00, each made once
    container = build(load_settings(app_environment(DATABASE_URL=url), env_file=None))
    try:
        await container.core.auth.login("alice", DEMO_PASSWORD)
    finally:
        await container.close()
    production = {"ENV": "production", "SECRET_KEY": "s" * 40, "EMAIL_BACKEND": "console"}
    code, out = await wallet("postgresql://u@127.0.0.1:1/none", "demo", **production)
    assert code == 2
    assert "refused" in one_line(out)


async def test_create_admin_on_a_terminal_prompts_for_the_password_twice(
    own_database: str,
) -> None:
    """Without --password or the variable, a terminal gets a hidden prompt and a confirmation."""
    name = new_name("admin")
    env = {**os.environ, **app_environment(DATABASE_URL=own_database)}
    env.pop("WALLET_ADMIN_PASSWORD", None)
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "entrypoints.cli", "create-admin"]
    identity = ["--email", f"{name}@example.com", "--username", name, "--phone", new_phone()]

    def converse() -> tuple[int, bytes]:
        primary, secondary = os.openpty()
        process = subprocess.Popen(
            [*command, *identity],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env=env,
            start_new_session=True,  # no controlling terminal to fall back on: only this pty
        )
        os.close(secondary)
        # Type each answer once its prompt is shown (the prompt turns echo off, dropping any
        # type-ahead), as a person would.
        answers = ["Password for the new staff user", "Repeat for confirmation"]
        output = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the other side closed
                    break
                if not chunk:
                    break
                output += chunk
                if answers and answers[0].encode() in output.rsplit(b"\n", 1)[-1]:
                    answers.pop(0)
                    os.write(primary, f"{PASSWORD}\n".encode())
            elif process.poll() is not None:
                break
        os.close(primary)
        return process.wait(30), output

    # Blocking pty reads, so in a thread: the session's event loop keeps running meanwhile.
    code, output = await asyncio.to_thread(converse)
    assert code == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "Password for the new staff user" in text
    assert "Repeat for confirmation" in text
    assert PASSWORD not in text  # hidden
    assert f"created staff user {name}" in text
