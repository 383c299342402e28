"""Transfers between users: a hold on the sender's wallet toward the recipient's, pending until
the recipient accepts or rejects it, the sender cancels it, or it expires (the actions are in
``actions``). One read, one decision and one guarded write (see ``movements.execute``)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from wallet_core.bookings import hold
from wallet_core.ledger import FundingSource, Transaction, TransactionType
from wallet_core.metadata import check_metadata
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
from wallet_core.services.recipients import recipient_query, resolve_pair
from wallet_core.text import check_description


class TransferService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create_transfer(
        self,
        actor: Actor,
        *,
        amount: str,
        recipient: str,
        wallet_id: UUID | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency: Idempotency | None = None,
    ) -> Transaction | Replayed:
        """Hold ``amount`` on the sender's wallet toward the recipient's, pending acceptance."""
        text = check_description(description)
        tags = check_metadata(metadata)
        query = recipient_query(recipient)
        ctx = self._ctx

        async def decide() -> Plan[Transaction]:
            parties = await ctx.ledger.transaction_parties(actor.user_id, query)
            source, target = resolve_pair(actor.user_id, query, parties, wallet_id)
            money = Money.parse(amount, ctx.currencies.get(source.currency))
            require_active(source, target)
            ensure_funds(source, money)
            now = ctx.clock.now()
            booking = hold(
                id=ctx.ids.new_id(),
                type=TransactionType.TRANSFER,
                funding_source=FundingSource.INTERNAL,
                debit=source,
                credit=target,
                amount=money.minor,
                reference=new_reference(TransactionType.TRANSFER),
                now=now,
                expires_at=now + ctx.policy.transfer_expiry,
                description=text,
                metadata=tags,
            )
            transaction = booking.transaction
            assert transaction.sender is not None and transaction.recipient is not None
            notes = [
                notification(
                    ctx,
                    NotificationKind.TRANSFER_SENT,
                    transaction.sender.user_id,
                    transaction,
                    now,
                ),
                notification(
                    ctx,
                    NotificationKind.TRANSFER_RECEIVED,
                    transaction.recipient.user_id,
                    transaction,
                    now,
                ),
            ]
            return plan(
                ctx, now, [Step(booking, needs_active=True)], transaction, notifications=notes
            )

        return await execute(ctx, idempotency, decide)
