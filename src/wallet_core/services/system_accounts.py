"""Funding sources' system accounts: one per source and currency, created on first use."""

from __future__ import annotations

from wallet_core.ledger import Account, AccountKind, FundingSource
from wallet_core.services.context import Context


async def system_account(ctx: Context, source: FundingSource, currency: str) -> Account:
    """The system account of ``source`` in ``currency``, created unless it exists (once ever per
    pair, so this extra round trip is never on a hot path for long)."""
    now = ctx.clock.now()
    account = Account(
        id=ctx.ids.new_id(),
        kind=AccountKind.SYSTEM,
        currency=currency,
        created_at=now,
        updated_at=now,
        source=source,
    )
    return await ctx.ledger.add_system_account(account)
