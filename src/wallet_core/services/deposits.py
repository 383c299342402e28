"""Deposits announced by the payment provider (Paysend), credited exactly once per provider id."""

from __future__ import annotations

from dataclasses import dataclass

from wallet_core.errors import RecipientNotFound
from wallet_core.journal import LedgerWrite
from wallet_core.ledger import FundingSource, Transaction
from wallet_core.money import Money
from wallet_core.services.context import Context
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.movements import Plan, execute
from wallet_core.services.system_accounts import system_account
from wallet_core.services.transfers import credit
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
