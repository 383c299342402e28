"""Transfers between users (two-phase), staff deposits, and reading transactions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from wallet_core.errors import (
    CurrencyMismatch,
    DomainError,
    Expired,
    FieldError,
    InvalidAmount,
    NotFound,
    NotPending,
    RecipientNotFound,
    SameWallet,
    ValidationFailed,
)
from wallet_core.ledger import (
    Account,
    FundingSource,
    Party,
    Transfer,
    TransferStatus,
    TransferType,
    open_pending,
    post_direct,
    post_pending,
    void_pending,
)
from wallet_core.money import Money
from wallet_core.notifications import NotificationKind
from wallet_core.ports import UnitOfWork
from wallet_core.queries import (
    DEFAULT_TRANSACTION_ORDERING,
    TRANSACTION_ORDERINGS,
    Page,
    TransactionFilter,
    TransactionQuery,
    page_request,
    paginate,
    parse_ordering,
    sort_key_for,
    transaction_sort_value,
)
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import OutcomeRecorder
from wallet_core.services.movements import (
    ensure_funds,
    lock_accounts,
    new_reference,
    notification,
    record,
    require_active,
)
from wallet_core.users import User, normalize_phone

MAX_DESCRIPTION = 140


class Action:
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    ALL = (ACCEPT, REJECT, CANCEL)


@dataclass(frozen=True, slots=True)
class TransactionListParams:
    """``GET /wallet/transactions`` as received: strings where the core must interpret them."""

    amount_min: str | None = None
    amount_max: str | None = None
    types: Sequence[str] = ()
    statuses: Sequence[str] = ()
    funding_sources: Sequence[str] = ()
    currency: str | None = None
    wallet: UUID | None = None
    reference: str | None = None
    created_at_after: datetime | None = None
    created_at_before: datetime | None = None
    expiry_time_after: datetime | None = None
    expiry_time_before: datetime | None = None
    is_expired: bool | None = None
    sender: str | None = None
    recipient: str | None = None
    involving_user: str | None = None
    direction: str | None = None
    ordering: str | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None


def check_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"The description has at most {MAX_DESCRIPTION} characters.",
            [FieldError("description", f"at most {MAX_DESCRIPTION} characters")],
        )
    return text


_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ().-]{6,}$")


def _looks_like_phone(ref: str) -> bool:
    return bool(_PHONE_LIKE.match(ref))


def is_party(actor: Actor, transfer: Transfer) -> bool:
    return actor.user_id in transfer.party_user_ids


def _party(wallet: Account) -> Party:
    assert wallet.owner_id is not None and wallet.owner_username is not None
    return Party(wallet.owner_id, wallet.owner_username, wallet.id)


async def find_user(uow: UnitOfWork, ref: str) -> User | None:
    """A user by id, or username (case-insensitive)."""
    try:
        return await uow.users.get(UUID(ref))
    except ValueError:
        return await uow.users.find_by_username(ref.strip())


E = TypeVar("E", bound=StrEnum)


def _choices(raw: Sequence[str], allowed: type[E], name: str) -> frozenset[E]:
    """Enum values from repeated and/or comma-separated query values."""
    values = [v.strip() for item in raw for v in item.split(",") if v.strip()]
    try:
        return frozenset(allowed(v.lower()) for v in values)
    except ValueError as exc:
        options = ", ".join(m.value for m in allowed)
        raise ValidationFailed(
            f"Unknown {name} value; allowed: {options}", [FieldError(name, f"one of {options}")]
        ) from exc


class TransferService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # Creating -----------------------------------------------------------------------------------

    async def create_transfer(
        self,
        actor: Actor,
        *,
        amount: str,
        recipient: str,
        wallet_id: UUID | None = None,
        description: str | None = None,
        recorder: OutcomeRecorder[Transfer] | None = None,
    ) -> Transfer:
        text = check_description(description)
        ctx = self._ctx

        async def work(uow: UnitOfWork) -> Transfer:
            source, target = await self._resolve_pair(uow, actor, recipient, wallet_id)
            money = Money.parse(amount, ctx.currencies.get(source.currency))
            now = ctx.clock.now()
            locked = await lock_accounts(uow, source.id, target.id)
            source, target = locked[source.id], locked[target.id]
            require_active(source, target)
            ensure_funds(source, money)
            movement = open_pending(source, target, money.minor, now)
            transfer = Transfer(
                id=ctx.ids.new_id(),
                type=TransferType.TRANSFER,
                status=TransferStatus.PENDING,
                amount=money.minor,
                currency=source.currency,
                funding_source=FundingSource.INTERNAL,
                debit_account_id=source.id,
                credit_account_id=target.id,
                reference=new_reference(TransferType.TRANSFER),
                created_at=now,
                updated_at=now,
                sender=_party(source),
                recipient=_party(target),
                description=text,
                expires_at=now + ctx.policy.transfer_expiry,
            )
            await uow.transfers.add(transfer)
            await record(uow, ctx, transfer, movement, now)
            assert transfer.sender is not None
            assert transfer.recipient is not None
            await uow.outbox.add_many(
                [
                    notification(
                        ctx, NotificationKind.TRANSFER_SENT, transfer.sender.user_id, transfer, now
                    ),
                    notification(
                        ctx,
                        NotificationKind.TRANSFER_RECEIVED,
                        transfer.recipient.user_id,
                        transfer,
                        now,
                    ),
                ]
            )
            if recorder is not None:
                await recorder(uow, transfer)
            return transfer

        transfer = await ctx.storage.run(work)
        await ctx.list_cache.invalidate(transfer.party_user_ids)
        return transfer

    async def _resolve_pair(
        self, uow: UnitOfWork, actor: Actor, recipient: str, wallet_id: UUID | None
    ) -> tuple[Account, Account]:
        """The sender's source wallet and the recipient's wallet, by the contract's defaults."""
        if wallet_id is not None:
            source = await uow.accounts.get(wallet_id)
            if source is None or not source.is_wallet or source.owner_id != actor.user_id:
                raise NotFound("Wallet not found.")
        else:
            source = None
        target_wallet: Account | None = None
        ref = recipient.strip()
        try:
            target_wallet = await uow.accounts.get(UUID(ref))
            if target_wallet is None or not target_wallet.is_wallet:
                raise RecipientNotFound("No wallet with this id.")
            owner = await uow.users.get(target_wallet.owner_id) if target_wallet.owner_id else None
        except ValueError:
            owner = None
            if _looks_like_phone(ref):
                try:
                    owner = await uow.users.find_by_phone(normalize_phone(ref, "recipient"))
                except ValidationFailed:
                    owner = None
            if owner is None:
                owner = await uow.users.find_by_username(ref)
        if owner is None or not owner.is_active:
            raise RecipientNotFound(f"No active user matches recipient {recipient!r}.")
        if target_wallet is None:
            if source is not None:
                target_wallet = await uow.accounts.wallet_of(owner.id, source.currency)
                if target_wallet is None:
                    if owner.id == actor.user_id:
                        raise SameWallet("A transfer needs two different wallets.")
                    raise CurrencyMismatch(f"{owner.username} has no {source.currency} wallet.")
            else:
                wallets = await uow.accounts.wallets_of(owner.id)
                if not wallets:
                    raise RecipientNotFound(f"{owner.username} has no wallet.")
                target_wallet = wallets[0]
        if source is None:
            source = await uow.accounts.wallet_of(actor.user_id, target_wallet.currency)
            if source is None:
                raise CurrencyMismatch(f"You have no {target_wallet.currency} wallet to send from.")
        if source.id == target_wallet.id:
            raise SameWallet("A transfer needs two different wallets.")
        if source.currency != target_wallet.currency:
            raise CurrencyMismatch(
                f"Cannot send {source.currency} to a {target_wallet.currency} wallet."
            )
        return source, target_wallet

    async def deposit(
        self,
        actor: Actor,
        *,
        amount: str,
        wallet_id: UUID,
        description: str | None = None,
        recorder: OutcomeRecorder[Transfer] | None = None,
    ) -> Transfer:
        """A staff member's manual credit, born completed."""
        actor.require_staff()
        text = check_description(description)
        ctx = self._ctx

        async def work(uow: UnitOfWork) -> Transfer:
            wallet = await uow.accounts.get(wallet_id)
            if wallet is None or not wallet.is_wallet:
                raise NotFound("Wallet not found.")
            money = Money.parse(amount, ctx.currencies.get(wallet.currency))
            return await credit_wallet(
                uow, ctx, wallet, money, FundingSource.MANUAL, text, None, recorder
            )

        transfer = await ctx.storage.run(work)
        await ctx.list_cache.invalidate(transfer.party_user_ids)
        return transfer

    # Acting on a pending transfer ---------------------------------------------------------------

    async def act(
        self,
        actor: Actor,
        transfer_id: UUID,
        action: str,
        recorder: OutcomeRecorder[Transfer] | None = None,
    ) -> Transfer:
        if action not in Action.ALL:
            raise ValidationFailed(
                "action must be accept, reject or cancel.",
                [FieldError("action", "one of accept, reject, cancel")],
            )
        ctx = self._ctx

        async def work(uow: UnitOfWork) -> tuple[Transfer, DomainError | None]:
            transfer = await uow.transfers.lock(transfer_id)
            if transfer is None or not _may_act(actor, transfer, action):
                raise NotFound("Transaction not found.")
            now = ctx.clock.now()
            if transfer.status is not TransferStatus.PENDING:
                raise NotPending(
                    f"Transaction {transfer.reference} is {transfer.status.value}, not pending."
                )
            if transfer.is_due(now):
                expired = await expire_transfer(uow, ctx, transfer, now)
                error = Expired(
                    f"Transaction {transfer.reference} expired at {transfer.expires_at}."
                )
                if recorder is not None:
                    await recorder(uow, error)
                return expired, error
            locked = await lock_accounts(uow, transfer.debit_account_id, transfer.credit_account_id)
            debit, credit = locked[transfer.debit_account_id], locked[transfer.credit_account_id]
            if action == Action.ACCEPT:
                require_active(debit, credit)
                movement = post_pending(debit, credit, transfer.amount, now)
                done = transfer.finish(TransferStatus.COMPLETED, now)
                kinds = [(NotificationKind.TRANSFER_ACCEPTED, done.sender)]
            elif action == Action.REJECT:
                movement = void_pending(debit, credit, transfer.amount, now)
                done = transfer.finish(TransferStatus.REJECTED, now)
                kinds = [(NotificationKind.TRANSFER_REJECTED, done.sender)]
            else:
                movement = void_pending(debit, credit, transfer.amount, now)
                done = transfer.finish(TransferStatus.CANCELLED, now)
                if done.type is TransferType.WITHDRAWAL:
                    kinds = [(NotificationKind.CASHOUT_CANCELLED, done.sender)]
                else:
                    kinds = [(NotificationKind.TRANSFER_CANCELLED, done.recipient)]
            await uow.transfers.update(done)
            await record(uow, ctx, done, movement, now)
            await uow.outbox.add_many(
                [notification(ctx, k, p.user_id, done, now) for k, p in kinds if p]
            )
            if recorder is not None:
                await recorder(uow, done)
            return done, None

        transfer, error = await ctx.storage.run(work)
        await ctx.list_cache.invalidate(transfer.party_user_ids)
        if error is not None:
            raise error
        return transfer

    # Reading ------------------------------------------------------------------------------------

    async def get(self, actor: Actor, transfer_id: UUID) -> Transfer:
        async def work(uow: UnitOfWork) -> Transfer | None:
            return await uow.transfers.get(transfer_id)

        transfer = await self._ctx.storage.run_read(work)
        if transfer is None or not (actor.is_staff or is_party(actor, transfer)):
            raise NotFound("Transaction not found.")
        return transfer

    async def list(self, actor: Actor, params: TransactionListParams) -> Page[Transfer]:
        ordering = parse_ordering(
            params.ordering, TRANSACTION_ORDERINGS, DEFAULT_TRANSACTION_ORDERING
        )
        paging = page_request(
            page=params.page,
            page_size=params.page_size,
            cursor=params.cursor,
            ordering=ordering,
        )

        async def work(uow: UnitOfWork) -> tuple[list[Transfer], int | None]:
            query = TransactionQuery(await self._filter(uow, actor, params), ordering, paging)
            if query.filter.matches_nothing:
                return [], None if paging.keyset else 0
            rows = await uow.transfers.search(query)
            count = None if paging.keyset else await uow.transfers.count(query)
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        key = sort_key_for(transaction_sort_value, ordering, lambda t: t.id)
        return paginate(rows, paging, count, ordering, key)

    async def _filter(
        self, uow: UnitOfWork, actor: Actor, p: TransactionListParams
    ) -> TransactionFilter:
        currency = self._ctx.currencies.get(p.currency).code if p.currency else None
        if p.direction is not None and p.direction not in ("in", "out"):
            raise ValidationFailed(
                "direction must be in or out.", [FieldError("direction", "one of in, out")]
            )
        amount_min = self._amount_bound(p.amount_min, currency, "amount_min")
        amount_max = self._amount_bound(p.amount_max, currency, "amount_max")
        refs: dict[str, UUID | None] = {}
        nothing = False
        for name, raw in (
            ("sender", p.sender),
            ("recipient", p.recipient),
            ("involving_user", p.involving_user),
        ):
            if raw is None or not raw.strip():
                continue
            user = await find_user(uow, raw)
            refs[name] = user.id if user else None
            nothing = nothing or user is None
        return TransactionFilter(
            viewer_id=None if actor.is_staff else actor.user_id,
            amount_min=amount_min,
            amount_max=amount_max,
            types=_choices(p.types, TransferType, "type"),
            statuses=_choices(p.statuses, TransferStatus, "status"),
            funding_sources=_choices(p.funding_sources, FundingSource, "funding_source"),
            currency=currency,
            wallet_id=p.wallet,
            text=p.reference.strip() if p.reference and p.reference.strip() else None,
            created_after=p.created_at_after,
            created_before=p.created_at_before,
            expires_after=p.expiry_time_after,
            expires_before=p.expiry_time_before,
            is_expired=p.is_expired,
            now=self._ctx.clock.now(),
            sender_id=refs.get("sender"),
            recipient_id=refs.get("recipient"),
            involving_id=refs.get("involving_user"),
            direction=p.direction,
            caller_id=actor.user_id,
            matches_nothing=nothing,
        )

    def _amount_bound(self, raw: str | None, currency: str | None, name: str) -> int | None:
        if raw is None or not raw.strip():
            return None
        digits = {c.digits for c in self._ctx.currencies}
        if currency is not None:
            unit = self._ctx.currencies.get(currency)
        elif len(digits) == 1:
            unit = next(iter(self._ctx.currencies))
        else:
            raise ValidationFailed(
                f"{name} needs a currency filter when currencies differ in minor digits.",
                [FieldError(name, "give currency too")],
            )
        try:
            return Money.parse(raw, unit, allow_zero=True).minor
        except InvalidAmount as exc:
            raise ValidationFailed(exc.message, [FieldError(name, exc.message)]) from exc


def _may_act(actor: Actor, transfer: Transfer, action: str) -> bool:
    if action == Action.CANCEL:
        return transfer.sender is not None and transfer.sender.user_id == actor.user_id
    return (
        transfer.type is TransferType.TRANSFER
        and transfer.recipient is not None
        and transfer.recipient.user_id == actor.user_id
    )


async def expire_transfer(
    uow: UnitOfWork,
    ctx: Context,
    transfer: Transfer,
    now: datetime,
    locked: dict[UUID, Account] | None = None,
) -> Transfer:
    """Release a locked pending transfer's hold and mark it expired (expiry job and late actions).

    ``locked``: accounts this unit of work already locked (a batch locks them all first, in id
    order, so that no two units of work wait on each other).
    """
    if locked is None:
        locked = await lock_accounts(uow, transfer.debit_account_id, transfer.credit_account_id)
    movement = void_pending(
        locked[transfer.debit_account_id], locked[transfer.credit_account_id], transfer.amount, now
    )
    done = transfer.finish(TransferStatus.EXPIRED, now)
    await uow.transfers.update(done)
    await record(uow, ctx, done, movement, now, locked)
    if done.type is TransferType.WITHDRAWAL:
        kinds = [(NotificationKind.CASHOUT_EXPIRED, done.sender)]
    else:
        kinds = [
            (NotificationKind.TRANSFER_EXPIRED, done.sender),
            (NotificationKind.TRANSFER_EXPIRED, done.recipient),
        ]
    await uow.outbox.add_many([notification(ctx, k, p.user_id, done, now) for k, p in kinds if p])
    return done


async def credit_wallet(
    uow: UnitOfWork,
    ctx: Context,
    wallet: Account,
    money: Money,
    source: FundingSource,
    description: str,
    provider_id: str | None,
    recorder: OutcomeRecorder[Transfer] | None,
) -> Transfer:
    """A completed deposit from a funding source's system account into a wallet."""
    now = ctx.clock.now()
    system = await uow.accounts.system_account(source, wallet.currency)
    locked = await lock_accounts(uow, system.id, wallet.id)
    system, wallet = locked[system.id], locked[wallet.id]
    require_active(wallet)
    movement = post_direct(system, wallet, money.minor, now)
    transfer = Transfer(
        id=ctx.ids.new_id(),
        type=TransferType.DEPOSIT,
        status=TransferStatus.COMPLETED,
        amount=money.minor,
        currency=wallet.currency,
        funding_source=source,
        debit_account_id=system.id,
        credit_account_id=wallet.id,
        reference=new_reference(TransferType.DEPOSIT),
        created_at=now,
        updated_at=now,
        recipient=_party(wallet),
        description=description,
        provider_id=provider_id,
        completed_at=now,
    )
    if provider_id is not None:
        if not await uow.transfers.add_if_new_provider_id(transfer):
            existing = await uow.transfers.by_provider_id(source, provider_id)
            assert existing is not None
            return existing
    else:
        await uow.transfers.add(transfer)
    await record(uow, ctx, transfer, movement, now)
    assert transfer.recipient is not None
    await uow.outbox.add_many(
        [
            notification(
                ctx, NotificationKind.DEPOSIT_RECEIVED, transfer.recipient.user_id, transfer, now
            )
        ]
    )
    if recorder is not None:
        await recorder(uow, transfer)
    return transfer
