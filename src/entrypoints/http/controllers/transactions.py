"""``/wallet/transactions``: create (transfer, cash-out, staff deposit), act, read, list."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Link
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.idempotency import IDEMPOTENCY_KEY_PATTERN, run_idempotent
from entrypoints.http.openapi import link_to, linked
from entrypoints.http.pagination import links
from entrypoints.http.params import comma_values, flag, instant
from entrypoints.http.params import currency as currency_param
from entrypoints.http.presenters import created_body, transaction_body, withdrawal_body
from entrypoints.http.problems import responses_for
from entrypoints.http.query_params import (
    CurrencyFilter,
    Cursor,
    Direction,
    FundingSources,
    PageNumber,
    PageSize,
    Statuses,
    TransactionOrdering,
    TransactionTypes,
    Types,
)
from entrypoints.http.schemas import (
    DepositCreate,
    ReversalRequest,
    TransactionAction,
    TransactionCreate,
    TransactionCreated,
    TransactionPage,
    TransactionResponse,
    TransferCreate,
    WithdrawalCreate,
)
from wallet_core.ledger import Transaction
from wallet_core.services.cashouts import CashOut
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.transactions import TransactionListParams

IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    required=True,
    min_length=1,
    max_length=255,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Required. 1-255 printable ASCII characters (no spaces); retries with the same "
    "key and body get the first outcome back.",
)
MONEY_ERRORS = responses_for(400, 401, 403, 404, 409, 413, 422, 429)
NEW_ID = "$response.body#/id"
_TO_TRANSACTION = {
    "GetTransaction": link_to("getTransaction", "Read this transaction.", transaction_id=NEW_ID),
    "ActOnTransaction": link_to(
        "actOnTransaction",
        "Accept or reject (recipient), or cancel (sender) it while pending.",
        transaction_id=NEW_ID,
    ),
}
_TO_CASHOUT = Link(
    operation_id="cashoutWebhook",
    request_body={"withdrawal_code": "$response.body#/withdrawal_code"},
    description="A cash-out's code, as the ATM network verifies it (withdrawals only).",
)


def _metadata_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    """``metadata[key]=value`` query parameters (the core checks the keys)."""
    return [
        (name[len("metadata[") : -1], value)
        for name, value in request.query_params.multi_items()
        if name.startswith("metadata[") and name.endswith("]")
    ]


class TransactionsController(Controller):
    path = "/wallet/transactions"
    tags = ["transactions"]

    @get(
        "/",
        summary="Transactions involving your wallets (staff: all), filtered and ordered",
        operation_id="listTransactions",
        responses={
            200: ResponseSpec(
                data_container=TransactionPage,
                description="A page of transactions",
                generate_examples=False,
            ),
            **responses_for(400, 401, 429),
        },
    )
    async def list_transactions(
        self,
        request: Request[Any, Any, Any],
        actor: ActorDep,
        container: ContainerDep,
        amount_min: FromQuery[str | None] = None,
        amount_max: FromQuery[str | None] = None,
        type_: Types = None,
        transaction_type: TransactionTypes = None,
        status: Statuses = None,
        funding_source: FundingSources = None,
        currency: CurrencyFilter = None,
        wallet: FromQuery[UUID | None] = None,
        reference: FromQuery[str | None] = None,
        created_at_after: FromQuery[str | None] = None,
        created_at_before: FromQuery[str | None] = None,
        expiry_time_after: FromQuery[str | None] = None,
        expiry_time_before: FromQuery[str | None] = None,
        is_expired: FromQuery[str | None] = None,
        sender: FromQuery[str | None] = None,
        recipient: FromQuery[str | None] = None,
        involving_user: FromQuery[str | None] = None,
        direction: Direction = None,
        ordering: TransactionOrdering = None,
        page: PageNumber = None,
        page_size: PageSize = None,
        cursor: Cursor = None,
    ) -> Response[bytes]:
        core = container.core
        viewer = None if actor.is_staff else actor.user_id
        query = urlencode(sorted(request.query_params.multi_items()))
        cache_key, cached = await core.ctx.list_cache.lookup(
            viewer, f"{actor.user_id}|{request.base_url}|{query}"
        )
        if cached is not None:
            return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
        params = TransactionListParams(
            amount_min=amount_min,
            amount_max=amount_max,
            types=comma_values(type_, transaction_type),
            statuses=comma_values(status),
            funding_sources=comma_values(funding_source),
            currency=currency_param("currency", currency, core.ctx.currencies),
            wallet=wallet,
            reference=reference,
            created_at_after=instant("created_at_after", created_at_after),
            created_at_before=instant("created_at_before", created_at_before),
            expiry_time_after=instant("expiry_time_after", expiry_time_after),
            expiry_time_before=instant("expiry_time_before", expiry_time_before),
            is_expired=flag("is_expired", is_expired),
            sender=sender,
            recipient=recipient,
            involving_user=involving_user,
            direction=direction,
            metadata=_metadata_pairs(request),
            ordering=ordering,
            page=page,
            page_size=page_size,
            cursor=cursor,
        )
        result = await core.transactions.list(actor, params)
        body = msgspec.json.encode(
            TransactionPage(
                count=result.count,
                results=[transaction_body(t, core.ctx.currencies) for t in result.items],
                **links(request, result),
            )
        )
        await core.ctx.list_cache.store(cache_key, body)
        return Response(body, media_type="application/json", headers={"X-Cache": "miss"})

    @post(
        "/",
        summary="Send a transfer, request a cash-out, or (staff) credit a wallet",
        description="The body's `type` selects the operation. Transfers and cash-outs are held at "
        "once and stay pending; a cash-out's one-time `withdrawal_code` appears only in this "
        "response and its email.",
        operation_id="createTransaction",
        opt={"rate_scope": "wallet"},
        status_code=201,
        responses={
            201: ResponseSpec(
                data_container=TransactionCreated,  # type: ignore[arg-type]  # a union is documented as oneOf
                description="Created: the transaction, by its `type` (a withdrawal also carries "
                "`withdrawal_code`)",
                generate_examples=False,
            ),
            **MONEY_ERRORS,
        },
        operation_class=linked(
            201,
            {**_TO_TRANSACTION, "VerifyCashout": _TO_CASHOUT},
            discriminated=(TransactionCreate, TransactionCreated),
        ),
    )
    async def create_transaction(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TransactionCreate],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[bytes]:
        core = container.core
        currencies = core.ctx.currencies

        async def run(idempotency: Idempotency | None) -> Transaction | CashOut | Replayed:
            if isinstance(data, TransferCreate):
                return await core.transfers.create_transfer(
                    actor,
                    amount=data.amount,
                    recipient=data.recipient,
                    wallet_id=data.wallet_id,
                    description=data.description,
                    metadata=data.metadata,
                    idempotency=idempotency,
                )
            if isinstance(data, WithdrawalCreate):
                return await core.cashouts.request(
                    actor,
                    amount=data.amount,
                    wallet_id=data.wallet_id,
                    description=data.description,
                    metadata=data.metadata,
                    idempotency=idempotency,
                )
            assert isinstance(data, DepositCreate)
            return await core.deposits.manual(
                actor,
                amount=data.amount,
                wallet_id=data.wallet_id,
                description=data.description,
                metadata=data.metadata,
                idempotency=idempotency,
            )

        def render(result: Transaction | CashOut) -> tuple[int, msgspec.Struct]:
            if isinstance(result, CashOut):
                return 201, withdrawal_body(result.transaction, result.withdrawal_code, currencies)
            return 201, created_body(result, currencies)

        return await run_idempotent(  # type: ignore[misc]  # T is Transfer | CashOut
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:create-transaction",
            required=True,
            run=run,
            render=render,
        )

    @get(
        "/{transaction_id:uuid}",
        summary="One transaction (a party or staff)",
        operation_id="getTransaction",
        responses=responses_for(400, 401, 404, 429),
    )
    async def get_transaction(
        self, transaction_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> TransactionResponse:
        transaction = await container.core.transactions.get(actor, transaction_id)
        return transaction_body(transaction, container.core.ctx.currencies)

    @post(
        "/{transaction_id:uuid}/action",
        summary="Accept or reject (recipient), or cancel (sender) a pending transaction",
        description="Not pending: 409 `not_pending`; past `expires_at`: 422 `expired`; not a "
        "party allowed to do this: 404.",
        operation_id="actOnTransaction",
        opt={"rate_scope": "wallet"},
        status_code=200,
        responses={
            200: ResponseSpec(
                data_container=TransactionResponse,
                description="The transaction after the action",
                generate_examples=False,
            ),
            **MONEY_ERRORS,
        },
        operation_class=linked(200, {"GetTransaction": _TO_TRANSACTION["GetTransaction"]}),
    )
    async def act(
        self,
        request: Request[Any, Any, Any],
        transaction_id: FromPath[UUID],
        data: JSONBody[TransactionAction],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[bytes]:
        core = container.core

        async def run(idempotency: Idempotency | None) -> Transaction | Replayed:
            return await core.transactions.act(actor, transaction_id, data.action, idempotency)

        def render(result: Transaction) -> tuple[int, msgspec.Struct]:
            return 200, transaction_body(result, core.ctx.currencies)

        return await run_idempotent(
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:transaction-action",
            required=True,
            run=run,
            render=render,
        )

    @post(
        "/{transaction_id:uuid}/reverse",
        summary="Reverse (part of) a completed transaction (staff only)",
        description="A new `reversal` transaction, completed, moves the money back the way it "
        "came (`amount` defaults to what is left). Not a completed deposit, withdrawal or "
        "transfer: 409 `not_reversible`; more than is left to reverse: 422 `invalid_amount`; the "
        "debited wallet short of funds: 422 `insufficient_funds`, frozen: 403 `wallet_frozen`.",
        operation_id="reverseTransaction",
        opt={"rate_scope": "wallet"},
        status_code=201,
        responses={
            201: ResponseSpec(
                data_container=TransactionResponse,
                description="The reversal",
                generate_examples=False,
            ),
            **MONEY_ERRORS,
        },
        operation_class=linked(201, {"GetTransaction": _TO_TRANSACTION["GetTransaction"]}),
    )
    async def reverse(
        self,
        request: Request[Any, Any, Any],
        transaction_id: FromPath[UUID],
        data: JSONBody[ReversalRequest],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str, IDEMPOTENCY_KEY],
    ) -> Response[bytes]:
        core = container.core

        async def run(idempotency: Idempotency | None) -> Transaction | Replayed:
            return await core.reversals.reverse(
                actor,
                transaction_id,
                reason=data.reason,
                amount=data.amount,
                idempotency=idempotency,
            )

        def render(result: Transaction) -> tuple[int, msgspec.Struct]:
            return 201, transaction_body(result, core.ctx.currencies)

        return await run_idempotent(
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:reverse-transaction",
            required=True,
            run=run,
            render=render,
        )
