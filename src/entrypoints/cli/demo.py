"""``wallet demo``: two funded users to try the API with, and what to try."""

from __future__ import annotations

from typing import Any

import click

from entrypoints.cli.common import (
    Failure,
    describe,
    load,
    skip_unused_integrations,
    with_container,
)

DEMO_PASSWORD = "try the wallet 2026"
DEMO_USERS = (("alice", "+14155550101"), ("bob", "+14155550102"))
DEMO_DEPOSIT = "100.00"


@click.command(
    help=describe(
        """Seed two demo users, alice and bob (password "try the wallet 2026"), each with a
        USD wallet funded by a 100.00 Paysend deposit, then print what to try against a running
        `wallet serve`. Safe to run twice: existing demo users are kept and each deposit is made
        once (its provider id is fixed). Refused when ENV=production (known passwords).""",
        "ENV",
        "DATABASE_URL",
        "ARGON2_TIME_COST",
    )
)
def demo() -> int:
    skip_unused_integrations()
    settings = load()
    if settings.is_production:
        raise Failure("wallet demo seeds known passwords; it is refused when ENV=production", 2)
    if settings.uses_sqlite:
        from adapters.sql.migrate import upgrade_if_needed

        upgrade_if_needed(settings.database_url)
    from wallet_core.errors import AlreadyExists
    from wallet_core.services.auth import Registration
    from wallet_core.services.deposits import ProviderDeposit

    async def job(container: Any) -> list[tuple[str, str, bool]]:
        core = container.core
        seeded = []
        for name, phone in DEMO_USERS:
            created = True
            try:
                await core.auth.register(
                    Registration(f"{name}@example.com", name, DEMO_PASSWORD, phone, currency="USD")
                )
            except AlreadyExists:
                created = False
            await core.deposits.paysend(
                ProviderDeposit(f"demo-{name}-1", "COMPLETED", phone, DEMO_DEPOSIT, "USD")
            )
            seeded.append((name, phone, created))
        return seeded

    seeded = with_container(settings, job)
    for name, phone, created in seeded:
        state = "created" if created else "already there"
        click.echo(f"{name:<6} {phone}  {state}; a {DEMO_DEPOSIT} USD deposit credited once")
    base = settings.public_base_url.rstrip("/")
    click.echo(
        f"""
Both log in with the password "{DEMO_PASSWORD}". With `uv run wallet serve` running, try:

  TOKEN=$(curl -s {base}/api/v1/auth/token -H 'Content-Type: application/json' \\
    -d '{{"email": "alice", "password": "{DEMO_PASSWORD}"}}' | jq -r .access_token)
  curl -s {base}/api/v1/wallet -H "Authorization: Bearer $TOKEN"
  curl -s {base}/api/v1/wallet/transactions -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -H "Idempotency-Key: demo-transfer-1" \\
    -d '{{"type": "transaction", "amount": "12.50", "recipient": "bob"}}'

then log in as bob and accept it (README.md, "Quick start", shows every step), or open
{base}/api/schema/swagger and use "Authorize" with the token."""
    )
    return 0
