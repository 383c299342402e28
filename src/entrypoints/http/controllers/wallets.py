"""``/wallet``: your wallets (staff: all), opening one per currency, freezing (staff)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.idempotency import OPTIONAL_IDEMPOTENCY_KEY, run_idempotent
from entrypoints.http.openapi import link_to, linked
from entrypoints.http.pagination import links
from entrypoints.http.params import currency as currency_param
from entrypoints.http.params import flag, instant
from entrypoints.http.presenters import wallet_body
from entrypoints.http.problems import responses_for
from entrypoints.http.query_params import (
    CurrencyFilter,
    Cursor,
    PageNumber,
    PageSize,
    WalletOrdering,
)
from entrypoints.http.schemas import OpenWalletRequest, WalletPage, WalletResponse, WalletUpdate
from wallet_core.ledger import Account
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.wallets import WalletListParams

NEW_ID = "$response.body#/id"


class WalletsController(Controller):
    path = "/wallet"
    tags = ["wallets"]

    @get(
        "/",
        summary="Your wallets (staff: all wallets)",
        operation_id="listWallets",
        responses=responses_for(400, 401, 429),
    )
    async def list_wallets(
        self,
        request: Request[Any, Any, Any],
        actor: ActorDep,
        container: ContainerDep,
        user: FromQuery[str | None] = None,
        currency: CurrencyFilter = None,
        balance_min: FromQuery[str | None] = None,
        balance_max: FromQuery[str | None] = None,
        created_at_after: FromQuery[str | None] = None,
        created_at_before: FromQuery[str | None] = None,
        is_active: FromQuery[str | None] = None,
        ordering: WalletOrdering = None,
        page: PageNumber = None,
        page_size: PageSize = None,
        cursor: Cursor = None,
    ) -> WalletPage:
        params = WalletListParams(
            user=user,
            currency=currency_param("currency", currency, container.core.ctx.currencies),
            balance_min=balance_min,
            balance_max=balance_max,
            created_at_after=instant("created_at_after", created_at_after),
            created_at_before=instant("created_at_before", created_at_before),
            is_active=flag("is_active", is_active),
            ordering=ordering,
            page=page,
            page_size=page_size,
            cursor=cursor,
        )
        result = await container.core.wallets.list(actor, params)
        currencies = container.core.ctx.currencies
        return WalletPage(
            count=result.count,
            results=[wallet_body(w, currencies) for w in result.items],
            **links(request, result),
        )

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Open a wallet in another currency",
        description="One wallet per currency: a second is 409 `already_exists`; an unsupported "
        "currency is 422 `unsupported_currency`. An optional `Idempotency-Key` makes a retry "
        "answer like the first request.",
        operation_id="openWallet",
        responses={
            201: ResponseSpec(
                data_container=WalletResponse,
                description="The new wallet",
                generate_examples=False,
            ),
            **responses_for(400, 401, 404, 409, 413, 422, 429),
        },
        operation_class=linked(
            201,
            {
                "GetWallet": link_to("getWallet", "Read the new wallet.", wallet_id=NEW_ID),
                "UpdateWallet": link_to(
                    "updateWallet", "Freeze or unfreeze it (staff).", wallet_id=NEW_ID
                ),
            },
        ),
    )
    async def open_wallet(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OpenWalletRequest],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str | None, OPTIONAL_IDEMPOTENCY_KEY] = None,
    ) -> Response[bytes]:
        core = container.core

        async def run(idempotency: Idempotency | None) -> Account | Replayed:
            return await core.wallets.open(actor, data.currency, idempotency)

        def render(wallet: Account) -> tuple[int, msgspec.Struct]:
            return 201, wallet_body(wallet, core.ctx.currencies)

        return await run_idempotent(
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:open-wallet",
            required=False,
            run=run,
            render=render,
        )

    @get(
        "/{wallet_id:uuid}",
        summary="One wallet (owner or staff)",
        operation_id="getWallet",
        responses=responses_for(400, 401, 404, 429),
    )
    async def get_wallet(
        self, wallet_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> WalletResponse:
        wallet = await container.core.wallets.get(actor, wallet_id)
        return wallet_body(wallet, container.core.ctx.currencies)

    @patch(
        "/{wallet_id:uuid}",
        summary="Freeze or unfreeze a wallet (staff only)",
        operation_id="updateWallet",
        responses=responses_for(400, 401, 403, 404, 413, 429),
    )
    async def update_wallet(
        self,
        wallet_id: FromPath[UUID],
        data: JSONBody[WalletUpdate],
        actor: ActorDep,
        container: ContainerDep,
    ) -> WalletResponse:
        wallet = await container.core.wallets.set_active(actor, wallet_id, data.is_active)
        return wallet_body(wallet, container.core.ctx.currencies)
