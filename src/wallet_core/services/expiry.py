"""The expiry job: pending transfers and cash-outs past ``expires_at`` release their holds."""

from __future__ import annotations

from datetime import datetime

from wallet_core.bookings import release
from wallet_core.journal import Written
from wallet_core.ledger import TransactionStatus, TransactionType
from wallet_core.notifications import Notification, NotificationKind
from wallet_core.services.context import Context
from wallet_core.services.movements import Step, notification, plan
from wallet_core.snapshots import TransactionState


def expiry(ctx: Context, state: TransactionState, now: datetime) -> tuple[Step, list[Notification]]:
    """Release a due transaction's hold and mark it expired (the job, and late actions on it)."""
    booking = release(state.transaction, state.debit, state.credit, TransactionStatus.EXPIRED, now)
    done = booking.transaction
    if done.type is TransactionType.WITHDRAWAL:
        kinds = [(NotificationKind.CASHOUT_EXPIRED, done.sender)]
    else:
        kinds = [
            (NotificationKind.TRANSFER_EXPIRED, done.sender),
            (NotificationKind.TRANSFER_EXPIRED, done.recipient),
        ]
    notes = [notification(ctx, k, p.user_id, done, now) for k, p in kinds if p]
    return Step(booking, before=state.transaction), notes


class ExpiryService:
    def __init__(self, ctx: Context, batch_size: int = 100) -> None:
        self._ctx = ctx
        self._batch = batch_size

    async def expire_due(self) -> int:
        """Expire everything due now, batch by batch; returns how many this call expired.

        Each transaction expires in its own guarded write: if an accept, a verification or
        another expiry run got to it first, the guard refuses and this run leaves it alone, so a
        transaction changes state exactly once.
        """
        ctx = self._ctx
        total = 0
        while True:
            now = ctx.clock.now()
            due = await ctx.ledger.due(now, self._batch)
            applied = 0
            for state in due:
                step, notes = expiry(ctx, state, now)
                decision = plan(ctx, now, [step], None, notifications=notes)
                if await ctx.ledger.apply(decision.write) is Written.APPLIED:
                    applied += 1
                    for transaction in decision.write.movements:
                        ctx.counter.count(transaction)
                    await ctx.list_cache.invalidate(decision.touched)
            total += applied
            if len(due) < self._batch or not applied:
                return total
