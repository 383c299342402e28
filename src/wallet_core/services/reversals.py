"""Staff reversals: a new, completed ``reversal`` transaction moves (part of) a completed
deposit, withdrawal or transfer back the way it came. The ledger stays immutable: the original
keeps its lines and gains only ``reversed_amount``.

One read (the original and its two accounts), one decision, one guarded write through
:func:`~wallet_core.services.movements.execute`. The write changes the original from the
``reversed_amount`` it was read with: two reversals racing on one original cannot both apply (the
loser decides again from the new amount), so together they never exceed it. A database check
backs the same rule up.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from wallet_core.bookings import reverse
from wallet_core.errors import (
    FieldError,
    InvalidAmount,
    NotFound,
    NotReversible,
    ValidationFailed,
)
from wallet_core.journal import TransactionChange
from wallet_core.ledger import REVERSIBLE_TYPES, Transaction, TransactionStatus, TransactionType
from wallet_core.money import Money
from wallet_core.notifications import NotificationKind
from wallet_core.services.context import Actor, Context
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

MAX_REASON = 140


def check_reason(reason: str) -> str:
    text = reason.strip()
    if not 1 <= len(text) <= MAX_REASON:
        raise ValidationFailed(
            f"The reason has 1 to {MAX_REASON} characters.",
            [FieldError("reason", f"1 to {MAX_REASON} characters")],
        )
    return text


class ReversalService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def reverse(
        self,
        actor: Actor,
        transaction_id: UUID,
        *,
        reason: str,
        amount: str | None = None,
        idempotency: Idempotency | None = None,
    ) -> Transaction | Replayed:
        """Reverse ``amount`` (default: what is left to reverse) of a completed transaction."""
        actor.require_staff()
        text = check_reason(reason)
        ctx = self._ctx

        async def decide() -> Plan[Transaction]:
            state = await ctx.ledger.transaction(transaction_id)
            if state is None:
                raise NotFound("Transaction not found.")
            original = state.transaction
            if (
                original.type not in REVERSIBLE_TYPES
                or original.status is not TransactionStatus.COMPLETED
            ):
                raise NotReversible(
                    f"Transaction {original.reference} is a {original.status.value} "
                    f"{original.type.value}: only completed deposits, withdrawals and transfers "
                    "can be reversed."
                )
            unit = ctx.currencies.get(original.currency)
            left = Money(original.amount - original.reversed_amount, unit)
            money = left if amount is None else Money.parse(amount, unit)
            if money.minor <= 0 or money.minor > left.minor:
                raise InvalidAmount(
                    f"At most {left} of {original.reference} is left to reverse, requested {money}."
                )
            # Back the way it came: the account the original credited pays.
            debit, credit = state.credit, state.debit
            require_active(debit)
            ensure_funds(debit, money)
            now = ctx.clock.now()
            booking, grown = reverse(
                original,
                debit,
                credit,
                id=ctx.ids.new_id(),
                amount=money.minor,
                reference=new_reference(TransactionType.REVERSAL),
                now=now,
                reason=text,
            )
            reversal = booking.transaction
            notes = [
                notification(ctx, kind, party.user_id, reversal, now)
                for kind, party in (
                    (NotificationKind.REVERSAL_DEBITED, reversal.sender),
                    (NotificationKind.REVERSAL_CREDITED, reversal.recipient),
                )
                if party is not None
            ]
            decided = plan(
                ctx,
                now,
                [Step(booking)],
                reversal,
                notifications=notes,
                changed=[TransactionChange(original, grown)],
            )
            # Only the side being debited must be active (a frozen wallet may be paid back).
            active = frozenset({debit.id} if debit.is_wallet else ())
            return replace(decided, write=replace(decided.write, active=active))

        return await execute(ctx, idempotency, decide)
