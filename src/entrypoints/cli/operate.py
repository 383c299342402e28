"""The operator's commands: migrate, expire, audit, create-admin, sign-webhook, worker and
scheduler. Each imports the application only when it runs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from entrypoints.cli.common import (
    Failure,
    Progress,
    describe,
    load,
    skip_unused_integrations,
    with_container,
)


@click.command(
    help=describe(
        """Apply the database migrations up to the latest revision. Idempotent: on a database
        that is already there it only says so (without loading the migration scripts). Run it
        once per deploy, before the new servers start; `wallet serve` does it by itself on the
        embedded SQLite database.""",
        "DATABASE_URL",
    )
)
def migrate() -> int:
    skip_unused_integrations()
    settings = load()
    from adapters.sql.migrate import upgrade_if_needed

    migrated = upgrade_if_needed(settings.database_url)
    click.echo("database is at the latest revision" + ("" if migrated else " (it already was)"))
    return 0


@click.command(
    help=describe(
        """Run the expiry job once: every pending transfer and cash-out past its expires_at
        becomes expired and its hold is released (exactly once, even while a server or the
        scheduler runs the same job). Prints how many expired. The scheduler (or the embedded
        server) does this every EXPIRY_INTERVAL_SECONDS; this is for cron or by hand.""",
        "DATABASE_URL",
        "REDIS_URL",
    )
)
def expire() -> int:
    skip_unused_integrations()
    settings = load()

    async def job(container: Any) -> int:
        return int(await container.core.expiry.expire_due())

    count = with_container(settings, job)
    click.echo(f"expired {count} transaction(s)")
    return 0


@click.command(
    help=describe(
        """Recompute every account from its ledger entries and check the ledger's invariants
        (each account equals the sum of its entries, pending totals equal the pending
        transfers, no wallet below zero, every currency sums to zero). Progress goes to stderr;
        the summary is a table on stdout. Exit code 0 when clean, 1 on any difference (each
        one listed).""",
        "DATABASE_URL",
        "CURRENCIES",
    )
)
def audit() -> int:
    skip_unused_integrations()
    settings = load()
    progress = Progress("audit")

    async def job(container: Any) -> Any:
        return await container.core.audit.run(progress=progress)

    report = with_container(settings, job)
    progress.done()
    from wallet_core.money import format_minor

    registry = settings.currency_registry()

    def amount(currency: str, minor: int) -> str:
        return format_minor(minor, registry.get(currency)) if currency in registry else str(minor)

    rows = [("accounts checked", f"{report.accounts:,}"), ("problems", f"{len(report.problems)}")]
    rows += [
        (f"wallet balances {currency}", amount(currency, total))
        for currency, total in sorted(report.balances.items())
    ]
    click.echo(_table(("check", "result"), rows))
    if report.ok:
        click.echo("audit clean: every account matches its entries; all invariants hold")
        return 0
    click.echo(f"AUDIT FAILED: {len(report.problems)} problem(s)")
    for problem in report.problems:
        click.echo(f"  - {problem}")
    return 1


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    left = max(len(name) for name, _ in [header, *rows])
    right = max(len(value) for _, value in [header, *rows])
    lines = [f"{header[0]:<{left}}  {header[1]:>{right}}", f"{'-' * left}  {'-' * right}"]
    lines += [f"{name:<{left}}  {value:>{right}}" for name, value in rows]
    return "\n".join(lines)


@click.command(
    "create-admin",
    help=describe(
        """Create a staff user (staff see and manage every user, wallet and transaction).
        The password comes from --password, else WALLET_ADMIN_PASSWORD, else a prompt (asked
        twice) when a terminal is attached; with none of them it stops with exit code 2 and
        says so. An email, username or phone already taken is exit code 1.""",
        "DATABASE_URL",
        "WALLET_ADMIN_PASSWORD",
        "ARGON2_TIME_COST",
    ),
)
@click.option("--email", required=True, help="The staff user's email (also a login name).")
@click.option("--username", required=True, help="The staff user's username.")
@click.option("--phone", required=True, help="E.164 phone number, e.g. +14155550100.")
@click.option("--password", help="Prefer WALLET_ADMIN_PASSWORD or the prompt (shell history).")
def create_admin(email: str, username: str, phone: str, password: str | None) -> int:
    skip_unused_integrations()
    settings = load()
    password = password or os.environ.get("WALLET_ADMIN_PASSWORD") or _prompt_password()
    from wallet_core.errors import DomainError
    from wallet_core.services.auth import Registration

    async def job(container: Any) -> Any:
        return await container.core.auth.register(
            Registration(
                email=email,
                username=username,
                password=password,
                phone_number=phone,
                is_staff=True,
            )
        )

    try:
        user, _ = with_container(settings, job)
    except DomainError as exc:
        raise Failure(f"{exc.message} ({exc.code})") from None
    click.echo(f"created staff user {user.username} ({user.id})")
    return 0


def _prompt_password() -> str:
    if not sys.stdin.isatty():
        raise Failure(
            "no password: pass --password, set WALLET_ADMIN_PASSWORD, or run on a terminal "
            "to be prompted",
            exit_code=2,
        )
    value: str = click.prompt(
        "Password for the new staff user", hide_input=True, confirmation_prompt=True
    )
    return value


@click.command(
    "sign-webhook",
    help=describe(
        """Print the signature headers for a webhook body, to call a webhook by hand with curl:
        both X-Paysend-Signature (legacy) and X-Signature (timestamped; valid for
        WEBHOOK_TOLERANCE_SECONDS). Signs with --secret, else the source's first configured
        secret (in development: the generated one `wallet serve` prints). Send exactly the
        bytes that were signed.""",
        "PAYSEND_WEBHOOK_SECRETS",
        "ATM_WEBHOOK_SECRETS",
    ),
)
@click.option(
    "--source",
    type=click.Choice(["paysend", "atm"]),
    default="paysend",
    show_default=True,
    help="Whose secret signs: paysend deposits or the ATM cash-out webhook.",
)
@click.option("--secret", help="Sign with this secret instead of the configured one.")
@click.option("--body", help="The exact JSON body to send.")
@click.option(
    "--body-file", type=click.Path(exists=True, dir_okay=False), help="A file holding the body."
)
@click.option("--json", "as_json", is_flag=True, help="Print the headers as one JSON object.")
def sign_webhook(
    source: str, secret: str | None, body: str | None, body_file: str | None, as_json: bool
) -> int:
    if (body is None) == (body_file is None):
        raise click.UsageError("give exactly one of --body and --body-file")
    from entrypoints.http.webhooks.signatures import sign

    raw = Path(body_file).read_bytes() if body_file else (body or "").encode()
    key = secret or _configured_secret(source)
    if not key:
        variable = "PAYSEND_WEBHOOK_SECRETS" if source == "paysend" else "ATM_WEBHOOK_SECRETS"
        raise Failure(f"no secret: pass --secret or set {variable}")
    headers = sign(raw, key, int(time.time()))
    if as_json:
        click.echo(json.dumps(headers))
    else:
        for name, value in headers.items():
            click.echo(f"{name}: {value}")
    return 0


def _configured_secret(source: str) -> str | None:
    settings = load()
    secrets = (
        settings.paysend_webhook_secrets if source == "paysend" else settings.atm_webhook_secrets
    )
    return secrets[0] if secrets else None


@click.command(
    help=describe(
        """Run a taskiq worker: relays the outbox to the Redis stream and delivers
        notifications and outgoing webhooks, retrying with backoff while SMTP or Redis is down.
        Run as many as the load needs. Needs REDIS_URL (without it, `wallet serve` does this
        work in-process): exit code 2 when unset.""",
        "REDIS_URL",
        "DATABASE_URL",
        "EMAIL_BACKEND",
        "WORKER_METRICS_PORT",
    )
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Tasks run at once.",
)
def worker(concurrency: int) -> int:
    settings = load()
    _needs_redis(settings)
    from entrypoints.worker.run import run_worker

    return run_worker(settings, concurrency=concurrency)


@click.command(
    help=describe(
        """Run the job scheduler: the expiry job every EXPIRY_INTERVAL_SECONDS and the
        idempotency cleanup daily. Run exactly one; extra ones wait on a Redis lease and take
        over when the leader stops. Needs REDIS_URL: exit code 2 when unset.""",
        "REDIS_URL",
        "DATABASE_URL",
        "EXPIRY_INTERVAL_SECONDS",
    )
)
def scheduler() -> int:
    settings = load()
    _needs_redis(settings)
    from entrypoints.worker.run import run_scheduler

    return run_scheduler(settings)


def _needs_redis(settings: Any) -> None:
    if settings.redis_url is None:
        raise Failure(
            "REDIS_URL is not set: background work needs Redis (without it, `wallet serve` runs "
            "the jobs in-process)",
            exit_code=2,
        )
