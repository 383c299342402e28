"""Deposits: announced by the payment provider (Paysend), credited exactly once per provider id;
and a staff member's manual credit. Both are born completed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from wallet_core.bookings import credit_from_source
from wallet_core.errors import NotFound, RecipientNotFound
from wallet_core.journal import LedgerWrite
from wallet_core.ledger import Account, FundingSource, Transaction, TransactionType
from wallet_core.metadata import check_metadata
from wallet_core.money import Money
from wallet_core.notifications import NotificationKind
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.movements import (
    Plan,
    Step,
    execute,
    new_reference,
    notification,
    plan,
    require_active,
)
from wallet_core.services.system_accounts import system_account
from wallet_core.text import check_description
from wallet_core.users import normalize_phone

COMPLETED = "COMPLETED"


@dataclass(frozen=True, slots=True)
class ProviderDeposit:
    transaction_id: str
    status: str
    phone_number: str
    amount: str
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class DepositOutcome:
    status: str  # "processed" or "ignored"
    transaction: Transaction | None = None


class DepositService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def paysend(
        self, deposit: ProviderDeposit, idempotency: Idempotency | None = None
    ) -> DepositOutcome | Replayed:
        """Credit the active wallet of the user with this phone number, once per provider id: a
        repeat (any time, any key, concurrently) answers with the first transaction."""
        if deposit.status != COMPLETED:
            return DepositOutcome("ignored")
        phone = normalize_phone(deposit.phone_number, "recipient.phone_number")
        currency = self._ctx.currencies.get(deposit.currency) if deposit.currency else None
        ctx = self._ctx

        async def decide() -> Plan[DepositOutcome]:
            found = await ctx.ledger.provider_deposit(
                FundingSource.PAYSEND, deposit.transaction_id, phone
            )
            if found.existing is not None:
                return Plan(
                    LedgerWrite(now=ctx.clock.now()), DepositOutcome("processed", found.existing)
                )
            user = found.recipient
            if user is None or not user.is_active:
                raise RecipientNotFound("No active user has this phone number.")
            if currency is not None:
                wallet = next((w for w in user.wallets if w.currency == currency.code), None)
            else:
                wallet = user.wallets[0] if user.wallets else None
            if wallet is None:
                wanted = f"{currency.code} " if currency else ""
                raise RecipientNotFound(f"The user has no {wanted}wallet.")
            money = Money.parse(deposit.amount, ctx.currencies.get(wallet.currency))
            source = found.systems.get(wallet.currency) or await system_account(
                ctx, FundingSource.PAYSEND, wallet.currency
            )
            decided = credit(ctx, source, wallet, money, "Paysend deposit", deposit.transaction_id)
            assert not isinstance(decided.outcome, BaseException)
            return Plan(
                decided.write, DepositOutcome("processed", decided.outcome), decided.touched
            )

        return await execute(ctx, idempotency, decide)

    async def manual(
        self,
        actor: Actor,
        *,
        amount: str,
        wallet_id: UUID,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency: Idempotency | None = None,
    ) -> Transaction | Replayed:
        """A staff member's manual credit, born completed."""
        actor.require_staff()
        text = check_description(description)
        tags = check_metadata(metadata)
        ctx = self._ctx

        async def decide() -> Plan[Transaction]:
            wallet, source = await ctx.ledger.wallet_and_source(wallet_id, FundingSource.MANUAL)
            if wallet is None or not wallet.is_wallet:
                raise NotFound("Wallet not found.")
            money = Money.parse(amount, ctx.currencies.get(wallet.currency))
            if source is None:
                source = await system_account(ctx, FundingSource.MANUAL, wallet.currency)
            return credit(ctx, source, wallet, money, text, None, tags)

        return await execute(ctx, idempotency, decide)


def credit(
    ctx: Context,
    source: Account,
    wallet: Account,
    money: Money,
    description: str,
    provider_id: str | None,
    metadata: Mapping[str, str] | None = None,
) -> Plan[Transaction]:
    """A completed deposit from a funding source's system account into an active wallet."""
    require_active(wallet)
    now = ctx.clock.now()
    booking = credit_from_source(
        id=ctx.ids.new_id(),
        source=source,
        wallet=wallet,
        amount=money.minor,
        reference=new_reference(TransactionType.DEPOSIT),
        now=now,
        description=description,
        provider_id=provider_id,
        metadata=metadata,
    )
    transaction = booking.transaction
    assert transaction.recipient is not None
    notes = [
        notification(
            ctx, NotificationKind.DEPOSIT_RECEIVED, transaction.recipient.user_id, transaction, now
        )
    ]
    return plan(ctx, now, [Step(booking, needs_active=True)], transaction, notifications=notes)
