"""What every command shares: settings, the environment section of its help, one-line errors and
running a job on the container. Only the standard library and click are imported here: each
command imports what it needs when it runs, so ``--help`` and the light commands start fast."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from entrypoints.settings import Settings

T = TypeVar("T")

#: The defaults the help pages show, for the variables the commands name.
ENV_DEFAULTS = {
    "ENV": "development (production refuses unsafe defaults)",
    "DATABASE_URL": "sqlite+aiosqlite:///./wallet.db",
    "REDIS_URL": "unset: cache, rate limits and jobs run in-process",
    "SECRET_KEY": "development: generated once into ./.wallet-dev-secrets",
    "PAYSEND_WEBHOOK_SECRETS": "development: generated once; otherwise none (refuse all)",
    "ATM_WEBHOOK_SECRETS": "development: generated once; otherwise none (refuse all)",
    "LOG_LEVEL": "info",
    "LOG_FORMAT": "console (json when ENV=production)",
    "HTTP_HEADER_TIMEOUT_SECONDS": "30",
    "EMAIL_BACKEND": "console",
    "WORKER_METRICS_PORT": "unset: no metrics server",
    "EXPIRY_INTERVAL_SECONDS": "60",
    "DB_POOL_SIZE": "10",
    "ARGON2_TIME_COST": "3",
    "WALLET_ADMIN_PASSWORD": "unset: prompt on a terminal",
    "CURRENCIES": "USD:2,EUR:2,GBP:2,LBP:2",
}


def describe(text: str, *variables: str) -> str:
    """A command's help: its paragraph, then the variables it reads with their defaults."""
    width = max(len(name) for name in variables)
    rows = [f"  {name:<{width}}  {ENV_DEFAULTS[name]}" for name in variables]
    return "\n\n".join(
        [
            " ".join(text.split()),
            "\b\nEnvironment (also read from ./.env; .env.example documents all):\n"
            + "\n".join(rows),
        ]
    )


class Failure(click.ClickException):
    """A one-line ``error: ...`` on stderr, and the command's exit code (1 unless told)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


#: Optional integrations that libraries look for by importing them when they are themselves
#: imported: advanced-alchemy probes for the web framework (for its DTOs: the whole of Litestar)
#: and pydantic; structlog's console renderer for rich (pretty tracebacks). The one-shot commands
#: that only open the database use none of them, and marking them absent in those processes saves
#: about 0.5 s of CPU per run (see docs/startup.md). Only in a process of our own (never when
#: ``main()`` is called in-process), and never for serve, worker or scheduler.
UNUSED_INTEGRATIONS = ("litestar.dto.data_structures", "pydantic", "pydantic_core", "rich")
OWN_PROCESS = False


def skip_unused_integrations() -> None:
    if not OWN_PROCESS:
        return
    for name in UNUSED_INTEGRATIONS:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises


def load() -> Settings:
    """The settings of this process; a bad value is a one-line error with exit code 2."""
    from entrypoints.dev_secrets import DEV_SECRETS_FILE
    from entrypoints.settings import SettingsError, load_settings

    try:
        return load_settings(dev_secrets=DEV_SECRETS_FILE)
    except SettingsError as exc:
        raise Failure(f"configuration: {exc}", exit_code=2) from None


def with_container(settings: Settings, job: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``job(container)`` on a container built for this one command, then close it."""
    from entrypoints.bootstrap import build
    from entrypoints.logging import configure_logging

    configure_logging(settings)

    async def main() -> T:
        container = build(settings)
        try:
            return await job(container)
        finally:
            await container.close()

    return asyncio.run(main())


class Progress:
    """Phase lines on stderr (``audit: accounts 12,345 (0.8 s)``), so a long run shows it is
    moving; on a terminal each phase overwrites the last."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, phase: str, count: int) -> None:
        elapsed = time.monotonic() - self.started
        line = f"{self.name}: {phase} {count:,} ({elapsed:.1f} s)"
        if self.tty:
            click.echo(f"\r\033[K{line}", err=True, nl=False)
        else:
            click.echo(line, err=True)

    def done(self) -> None:
        if self.tty:
            click.echo("\r\033[K", err=True, nl=False)


def database_problem(exc: BaseException) -> str | None:
    """A one-line account of an error that means the database could not be used (unreachable,
    missing, refused credentials), or None for anything else (a bug keeps its traceback)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        unreachable = isinstance(current, ConnectionError | TimeoutError | socket.gaierror)
        if unreachable or module.startswith(("asyncpg", "sqlite3")):
            detail = str(current).strip().splitlines()[0] if str(current).strip() else ""
            return f"cannot use the database: {type(current).__name__}: {detail}".rstrip(": ")
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None
