"""Acting on a pending transaction: accept or reject (the recipient of a transfer), cancel (the
sender of a transfer or cash-out). Past its expiry, the action expires it instead."""

from __future__ import annotations

from wallet_core.bookings import release, settle
from wallet_core.errors import DomainError, Expired, NotPending
from wallet_core.ledger import Transaction, TransactionStatus, TransactionType
from wallet_core.notifications import NotificationKind
from wallet_core.services.context import Actor, Context
from wallet_core.services.expiry import expiry
from wallet_core.services.movements import Plan, Step, notification, plan, require_active
from wallet_core.snapshots import TransactionState


class Action:
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    ALL = (ACCEPT, REJECT, CANCEL)


def may_act(actor: Actor, transaction: Transaction, action: str) -> bool:
    if action == Action.CANCEL:
        return transaction.sender is not None and transaction.sender.user_id == actor.user_id
    return (
        transaction.type is TransactionType.TRANSFER
        and transaction.recipient is not None
        and transaction.recipient.user_id == actor.user_id
    )


def act_on(ctx: Context, state: TransactionState, action: str) -> Plan[Transaction]:
    transaction, debit, credit_account = state.transaction, state.debit, state.credit
    if transaction.status is not TransactionStatus.PENDING:
        raise NotPending(
            f"Transaction {transaction.reference} is {transaction.status.value}, not pending."
        )
    now = ctx.clock.now()
    if transaction.is_due(now):
        error: DomainError = Expired(
            f"Transaction {transaction.reference} expired at {transaction.expires_at}."
        )
        step, notes = expiry(ctx, state, now)
        return plan(ctx, now, [step], error, notifications=notes)
    if action == Action.ACCEPT:
        require_active(debit, credit_account)
        booking = settle(transaction, debit, credit_account, now)
        kinds = [(NotificationKind.TRANSFER_ACCEPTED, booking.transaction.sender)]
    elif action == Action.REJECT:
        booking = release(transaction, debit, credit_account, TransactionStatus.REJECTED, now)
        kinds = [(NotificationKind.TRANSFER_REJECTED, booking.transaction.sender)]
    else:
        booking = release(transaction, debit, credit_account, TransactionStatus.CANCELLED, now)
        if transaction.type is TransactionType.WITHDRAWAL:
            kinds = [(NotificationKind.CASHOUT_CANCELLED, booking.transaction.sender)]
        else:
            kinds = [(NotificationKind.TRANSFER_CANCELLED, booking.transaction.recipient)]
    done = booking.transaction
    notes = [notification(ctx, k, p.user_id, done, now) for k, p in kinds if p]
    step = Step(booking, before=transaction, needs_active=action == Action.ACCEPT, unexpired=True)
    return plan(ctx, now, [step], done, notifications=notes)
