"""Transfers between users (two-phase: hold, then accept, reject, cancel or expire), and staff
deposits. Each is one read, one decision and one guarded write (see ``movements.execute``)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from wallet_core.bookings import credit_from_source, hold, release, settle
from wallet_core.errors import (
    DomainError,
    Expired,
    FieldError,
    NotFound,
    NotPending,
    ValidationFailed,
)
from wallet_core.ledger import (
    Account,
    FundingSource,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from wallet_core.metadata import check_metadata
from wallet_core.money import Money
from wallet_core.notifications import NotificationKind
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
from wallet_core.services.recipients import recipient_query, resolve_pair
from wallet_core.services.system_accounts import system_account
from wallet_core.snapshots import TransactionState

MAX_DESCRIPTION = 140


class Action:
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    ALL = (ACCEPT, REJECT, CANCEL)


def check_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"The description has at most {MAX_DESCRIPTION} characters.",
            [FieldError("description", f"at most {MAX_DESCRIPTION} characters")],
        )
    return text


def may_act(actor: Actor, transaction: Transaction, action: str) -> bool:
    if action == Action.CANCEL:
        return transaction.sender is not None and transaction.sender.user_id == actor.user_id
    return (
        transaction.type is TransactionType.TRANSFER
        and transaction.recipient is not None
        and transaction.recipient.user_id == actor.user_id
    )


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

    async def deposit(
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

    async def act(
        self,
        actor: Actor,
        transaction_id: UUID,
        action: str,
        idempotency: Idempotency | None = None,
    ) -> Transaction | Replayed:
        """Accept or reject (the recipient), or cancel (the sender), a pending transaction."""
        if action not in Action.ALL:
            raise ValidationFailed(
                "action must be accept, reject or cancel.",
                [FieldError("action", "one of accept, reject, cancel")],
            )
        ctx = self._ctx

        async def decide() -> Plan[Transaction]:
            state = await ctx.ledger.transaction(transaction_id)
            if state is None or not may_act(actor, state.transaction, action):
                raise NotFound("Transaction not found.")
            return act_on(ctx, state, action)

        return await execute(ctx, idempotency, decide)


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
