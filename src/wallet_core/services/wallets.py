"""Wallets: open one per currency, read them, and (staff) freeze or unfreeze them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from wallet_core.errors import FieldError, InvalidAmount, NotFound, ValidationFailed
from wallet_core.events import wallet_event
from wallet_core.ledger import Account, AccountKind, next_change_at
from wallet_core.money import Money
from wallet_core.ports import UnitOfWork
from wallet_core.queries import (
    DEFAULT_WALLET_ORDERING,
    WALLET_ORDERINGS,
    Page,
    WalletFilter,
    WalletQuery,
    page_request,
    paginate,
    parse_ordering,
    sort_key_for,
    wallet_sort_value,
)
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import Idempotency, Replayed, run_once
from wallet_core.services.transactions import find_user


@dataclass(frozen=True, slots=True)
class WalletListParams:
    user: str | None = None
    currency: str | None = None
    balance_min: str | None = None
    balance_max: str | None = None
    created_at_after: datetime | None = None
    created_at_before: datetime | None = None
    is_active: bool | None = None
    ordering: str | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: str | None = None


class WalletService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def open(
        self, actor: Actor, currency: str, idempotency: Idempotency | None = None
    ) -> Account | Replayed:
        unit = self._ctx.currencies.get(currency)
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> Account:
            user = await uow.users.get(actor.user_id)
            if user is None:
                raise NotFound("User not found.")
            wallet = Account(
                id=self._ctx.ids.new_id(),
                kind=AccountKind.WALLET,
                currency=unit.code,
                created_at=now,
                updated_at=now,
                owner_id=user.id,
                owner_username=user.username,
            )
            await uow.accounts.add(wallet)
            return wallet

        return await run_once(self._ctx, idempotency, work)

    async def get(self, actor: Actor, wallet_id: UUID) -> Account:
        async def work(uow: UnitOfWork) -> Account | None:
            return await uow.accounts.get(wallet_id)

        wallet = await self._ctx.storage.run_read(work)
        if wallet is None or not wallet.is_wallet:
            raise NotFound("Wallet not found.")
        if not actor.is_staff and wallet.owner_id != actor.user_id:
            raise NotFound("Wallet not found.")
        return wallet

    async def set_active(self, actor: Actor, wallet_id: UUID, is_active: bool) -> Account:
        actor.require_staff()

        async def work(uow: UnitOfWork) -> Account:
            locked = await uow.accounts.lock([wallet_id])
            wallet = locked.get(wallet_id)
            if wallet is None or not wallet.is_wallet:
                raise NotFound("Wallet not found.")
            if wallet.is_active == is_active:
                return wallet
            # Never backwards: posted lines take their account's next ``updated_at`` as their time.
            now = next_change_at(wallet, self._ctx.clock.now())
            updated = replace(wallet, is_active=is_active, updated_at=now)
            await uow.accounts.save([updated])
            event = wallet_event(self._ctx.ids.new_id(), updated, self._ctx.currencies)
            await uow.events.add_many([event])
            return updated

        wallet = await self._ctx.storage.run(work)
        self._ctx.event_signal.notify()
        return wallet

    async def list(self, actor: Actor, params: WalletListParams) -> Page[Account]:
        ordering = parse_ordering(params.ordering, WALLET_ORDERINGS, DEFAULT_WALLET_ORDERING)
        paging = page_request(
            page=params.page, page_size=params.page_size, cursor=params.cursor, ordering=ordering
        )
        currency = self._ctx.currencies.get(params.currency).code if params.currency else None
        balance_min = self._bound(params.balance_min, currency, "balance_min")
        balance_max = self._bound(params.balance_max, currency, "balance_max")

        async def work(uow: UnitOfWork) -> tuple[list[Account], int | None]:
            owner_id = None
            nothing = False
            if params.user is not None and params.user.strip():
                user = await find_user(uow, params.user)
                owner_id = user.id if user else None
                nothing = user is None
            query = WalletQuery(
                WalletFilter(
                    viewer_id=None if actor.is_staff else actor.user_id,
                    owner_id=owner_id,
                    currency=currency,
                    balance_min=balance_min,
                    balance_max=balance_max,
                    created_after=params.created_at_after,
                    created_before=params.created_at_before,
                    is_active=params.is_active,
                    matches_nothing=nothing,
                ),
                ordering,
                paging,
            )
            if nothing:
                return [], None if paging.keyset else 0
            rows = await uow.accounts.search(query)
            count = None if paging.keyset else await uow.accounts.count(query)
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        key = sort_key_for(wallet_sort_value, ordering, lambda a: a.id)
        return paginate(rows, paging, count, ordering, key)

    def _bound(self, raw: str | None, currency: str | None, name: str) -> int | None:
        if raw is None or not raw.strip():
            return None
        units = {c.digits for c in self._ctx.currencies}
        unit = (
            self._ctx.currencies.get(currency)
            if currency
            else (next(iter(self._ctx.currencies)) if len(units) == 1 else None)
        )
        if unit is None:
            raise ValidationFailed(
                f"{name} needs a currency filter when currencies differ in minor digits.",
                [FieldError(name, "give currency too")],
            )
        text = raw.strip()
        negative = text.startswith("-")
        try:
            minor = Money.parse(text.removeprefix("-"), unit, allow_zero=True).minor
        except InvalidAmount as exc:
            raise ValidationFailed(exc.message, [FieldError(name, exc.message)]) from exc
        return -minor if negative else minor
