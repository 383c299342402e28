"""Transactions of every type: reading one, or a filtered, ordered, paginated list of them, and
acting on a pending one (accept, reject, cancel)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from wallet_core.errors import FieldError, InvalidAmount, NotFound, ValidationFailed
from wallet_core.ledger import FundingSource, Transaction, TransactionStatus, TransactionType
from wallet_core.metadata import metadata_filter
from wallet_core.money import Money
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
from wallet_core.services.actions import Action, act_on, may_act
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.movements import Plan, execute
from wallet_core.users import User


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
    #: ``metadata[key]=value`` pairs as received.
    metadata: Sequence[tuple[str, str]] = ()
    ordering: str | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None


def is_party(actor: Actor, transaction: Transaction) -> bool:
    return actor.user_id in transaction.party_user_ids


async def find_user(uow: UnitOfWork, ref: str) -> User | None:
    """A user by id, or username (case-insensitive)."""
    try:
        return await uow.users.get(UUID(ref))
    except ValueError:
        return await uow.users.find_by_username(ref.strip())


E = TypeVar("E", bound=StrEnum)


def _choices(raw: Sequence[str], allowed: type[E], name: str) -> frozenset[E]:
    """The enum values named in ``raw`` (an empty or unknown name is refused)."""
    try:
        return frozenset(allowed(v.strip().lower()) for v in raw)
    except ValueError as exc:
        options = ", ".join(m.value for m in allowed)
        raise ValidationFailed(
            f"Unknown {name} value; allowed: {options}", [FieldError(name, f"one of {options}")]
        ) from exc


class TransactionService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def get(self, actor: Actor, transaction_id: UUID) -> Transaction:
        async def work(uow: UnitOfWork) -> Transaction | None:
            return await uow.transactions.get(transaction_id)

        transaction = await self._ctx.storage.run_read(work)
        if transaction is None or not (actor.is_staff or is_party(actor, transaction)):
            raise NotFound("Transaction not found.")
        return transaction

    async def list(self, actor: Actor, params: TransactionListParams) -> Page[Transaction]:
        ordering = parse_ordering(
            params.ordering, TRANSACTION_ORDERINGS, DEFAULT_TRANSACTION_ORDERING
        )
        paging = page_request(
            page=params.page,
            page_size=params.page_size,
            cursor=params.cursor,
            ordering=ordering,
        )

        async def work(uow: UnitOfWork) -> tuple[list[Transaction], int | None]:
            query = TransactionQuery(await self._filter(uow, actor, params), ordering, paging)
            if query.filter.matches_nothing:
                return [], None if paging.keyset else 0
            rows = await uow.transactions.search(query)
            count = None if paging.keyset else await uow.transactions.count(query)
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
            types=_choices(p.types, TransactionType, "type"),
            statuses=_choices(p.statuses, TransactionStatus, "status"),
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
            metadata=metadata_filter(list(p.metadata)),
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
