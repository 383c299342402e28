"""Deposits announced by the payment provider (Paysend), credited exactly once per provider id."""

from __future__ import annotations

from dataclasses import dataclass

from wallet_core.errors import RecipientNotFound
from wallet_core.ledger import FundingSource, Transfer
from wallet_core.money import Money
from wallet_core.ports import UnitOfWork
from wallet_core.services.context import Context
from wallet_core.services.idempotency import OutcomeRecorder
from wallet_core.services.transfers import credit_wallet
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
    transfer: Transfer | None = None
    credited: bool = False  # this call credited the wallet (not a repeat of the provider id)


class DepositService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def paysend(
        self, deposit: ProviderDeposit, recorder: OutcomeRecorder[DepositOutcome] | None = None
    ) -> DepositOutcome:
        if deposit.status != COMPLETED:
            return DepositOutcome("ignored")
        phone = normalize_phone(deposit.phone_number, "recipient.phone_number")
        currency = self._ctx.currencies.get(deposit.currency) if deposit.currency else None
        ctx = self._ctx

        async def work(uow: UnitOfWork) -> DepositOutcome:
            existing = await uow.transfers.by_provider_id(
                FundingSource.PAYSEND, deposit.transaction_id
            )
            if existing is not None:
                outcome = DepositOutcome("processed", existing)
            else:
                user = await uow.users.find_by_phone(phone)
                if user is None or not user.is_active:
                    raise RecipientNotFound("No active user has this phone number.")
                if currency is not None:
                    wallet = await uow.accounts.wallet_of(user.id, currency.code)
                else:
                    wallets = await uow.accounts.wallets_of(user.id)
                    wallet = wallets[0] if wallets else None
                if wallet is None:
                    raise RecipientNotFound(
                        f"The user has no {currency.code if currency else ''} wallet.".replace(
                            "  ", " "
                        )
                    )
                money = Money.parse(deposit.amount, ctx.currencies.get(wallet.currency))
                transfer = await credit_wallet(
                    uow,
                    ctx,
                    wallet,
                    money,
                    FundingSource.PAYSEND,
                    "Paysend deposit",
                    deposit.transaction_id,
                    None,
                )
                outcome = DepositOutcome("processed", transfer, credited=True)
            if recorder is not None:
                await recorder(uow, outcome)
            return outcome

        outcome = await ctx.storage.run(work)
        if outcome.transfer is not None:
            await ctx.list_cache.invalidate(outcome.transfer.party_user_ids)
        return outcome
