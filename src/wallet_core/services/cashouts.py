"""Cash-out at an ATM: a hold plus a one-time code; the ATM network's webhook verifies the code."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from wallet_core.bookings import hold, release, settle
from wallet_core.errors import (
    DomainError,
    Expired,
    InvalidWithdrawalCode,
    NotFound,
    NotPending,
    TooManyAttempts,
)
from wallet_core.journal import TransactionChange
from wallet_core.ledger import FundingSource, Transaction, TransactionStatus, TransactionType
from wallet_core.metadata import check_metadata
from wallet_core.money import Money
from wallet_core.notifications import SEALED_CODE, NotificationKind
from wallet_core.ports import SecretHasher
from wallet_core.services.context import Actor, Context
from wallet_core.services.expiry import expiry
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.movements import (
    Plan,
    Step,
    ensure_funds,
    execute,
    new_reference,
    notification,
    plan,
    require_active,
)
from wallet_core.services.system_accounts import system_account
from wallet_core.snapshots import CashOutAttempt
from wallet_core.text import check_description
from wallet_core.users import normalize_phone

#: Unambiguous characters: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class CashOut:
    """A requested cash-out and its one-time code (the only time the code exists in clear)."""

    transaction: Transaction
    withdrawal_code: str


def normalize_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


class CashOutService:
    def __init__(self, ctx: Context, secrets_hasher: SecretHasher) -> None:
        self._ctx = ctx
        self._hasher = secrets_hasher

    async def request(
        self,
        actor: Actor,
        *,
        amount: str,
        wallet_id: UUID | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency: Idempotency | None = None,
    ) -> CashOut | Replayed:
        """Hold ``amount`` toward the ATM sink and issue a one-time code for it."""
        ctx = self._ctx
        text = check_description(description)
        tags = check_metadata(metadata)
        length = ctx.policy.withdrawal_code_length
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        digest = self._hasher.digest(code)
        sealed = ctx.secret_box.seal(code.encode()).hex()

        async def decide() -> Plan[CashOut]:
            found = await ctx.ledger.wallets_and_sinks(actor.user_id, FundingSource.BLF_ATM)
            if wallet_id is not None:
                wallet = next((w for w in found.wallets if w.id == wallet_id), None)
                if wallet is None:
                    raise NotFound("Wallet not found.")
            elif found.wallets:
                wallet = found.wallets[0]
            else:
                raise NotFound("You have no wallet.")
            money = Money.parse(amount, ctx.currencies.get(wallet.currency))
            require_active(wallet)
            ensure_funds(wallet, money)
            sink = found.systems.get(wallet.currency) or await system_account(
                ctx, FundingSource.BLF_ATM, wallet.currency
            )
            now = ctx.clock.now()
            booking = hold(
                id=ctx.ids.new_id(),
                type=TransactionType.WITHDRAWAL,
                funding_source=FundingSource.BLF_ATM,
                debit=wallet,
                credit=sink,
                amount=money.minor,
                reference=new_reference(TransactionType.WITHDRAWAL),
                now=now,
                expires_at=now + ctx.policy.cashout_expiry,
                description=text,
                code_digest=digest,
                metadata=tags,
            )
            transaction = booking.transaction
            assert transaction.sender is not None
            note = notification(
                ctx,
                NotificationKind.CASHOUT_REQUESTED,
                transaction.sender.user_id,
                transaction,
                now,
                {SEALED_CODE: sealed},
            )
            step = Step(booking, needs_active=True)
            return plan(ctx, now, [step], CashOut(transaction, code), notifications=[note])

        return await execute(ctx, idempotency, decide)

    async def verify(
        self,
        phone_number: str,
        code: str,
        idempotency: Idempotency | None = None,
    ) -> Transaction | Replayed:
        """The ATM network confirms a code: post the held amount, or count a failed attempt.

        A wrong code counts against every pending cash-out of that phone's owner; at the limit
        they are cancelled and their holds released.
        """
        ctx = self._ctx
        digests = self._hasher.candidates(normalize_code(code))
        try:
            phone: str | None = normalize_phone(phone_number)
        except DomainError:
            phone = None

        async def decide() -> Plan[Transaction]:
            if phone is None:
                raise InvalidWithdrawalCode()
            attempt = await ctx.ledger.cashout_attempt(phone, digests)
            if attempt.user_id is None:
                raise InvalidWithdrawalCode()
            if attempt.matches:
                return self._redeem(attempt, attempt.matches[0])
            return self._count_failure(attempt)

        return await execute(ctx, idempotency, decide)

    def _redeem(self, attempt: CashOutAttempt, transaction: Transaction) -> Plan[Transaction]:
        ctx = self._ctx
        now = ctx.clock.now()
        if transaction.status is TransactionStatus.PENDING and transaction.is_due(now):
            step, notes = expiry(ctx, attempt.state(transaction), now)
            return plan(
                ctx, now, [step], Expired("This cash-out has expired."), notifications=notes
            )
        if transaction.status is TransactionStatus.EXPIRED:
            raise Expired("This cash-out has expired.")
        if transaction.status is not TransactionStatus.PENDING:
            raise NotPending(f"This cash-out is {transaction.status.value}.")
        state = attempt.state(transaction)
        require_active(state.debit)
        booking = settle(transaction, state.debit, state.credit, now)
        done = booking.transaction
        assert done.sender is not None
        note = notification(ctx, NotificationKind.CASHOUT_COMPLETED, done.sender.user_id, done, now)
        step = Step(booking, before=transaction, needs_active=True, unexpired=True)
        return plan(ctx, now, [step], done, notifications=[note])

    def _count_failure(self, attempt: CashOutAttempt) -> Plan[Transaction]:
        """Wrong guesses count against live cash-outs; lapsed ones are the expiry job's."""
        ctx = self._ctx
        now = ctx.clock.now()
        limit = ctx.policy.max_code_attempts
        counted: list[TransactionChange] = []
        cancelled: list[Step] = []
        notes = []
        for transaction in attempt.pending:
            if transaction.is_due(now):
                continue
            after = transaction.with_failed_attempt(now)
            if after.failed_attempts < limit:
                counted.append(TransactionChange(transaction, after, now))
                continue
            state = attempt.state(transaction)
            booking = release(after, state.debit, state.credit, TransactionStatus.CANCELLED, now)
            cancelled.append(Step(booking, before=transaction, unexpired=True))
            assert attempt.user_id is not None
            notes.append(
                notification(
                    ctx,
                    NotificationKind.CASHOUT_CANCELLED,
                    attempt.user_id,
                    booking.transaction,
                    now,
                )
            )
        error: DomainError = TooManyAttempts() if cancelled else InvalidWithdrawalCode()
        return plan(ctx, now, cancelled, error, notifications=notes, changed=counted)
