"""``/wallet/webhook/paysend`` and ``/wallet/webhook/cashout``: signed, allowlisted, exactly once.

Check order (docs/api.md): source IP (403), then the signature over the raw body (401) — both in a
guard, which runs before the framework parses the body — then the body itself (400).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from entrypoints.http.client_ip import IpRules, joined_forwarded_for
from entrypoints.http.context import ContainerDep, container_of
from entrypoints.http.idempotency import OPTIONAL_IDEMPOTENCY_KEY, run_idempotent
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import CashoutVerification, PaysendNotification, WebhookResult
from entrypoints.http.webhooks.signatures import verify_signature
from wallet_core.ledger import Transaction
from wallet_core.money import format_minor
from wallet_core.services.deposits import DepositOutcome, ProviderDeposit
from wallet_core.services.idempotency import Idempotency, Replayed

Connection = ASGIConnection[Any, Any, Any, Any]


async def _authenticate(connection: Connection, source: str) -> None:
    container = container_of(connection.scope)
    settings = container.settings
    if source == "paysend":
        allowlist, secrets = settings.paysend_ip_allowlist, settings.paysend_webhook_secrets
    else:
        allowlist, secrets = settings.atm_ip_allowlist, settings.atm_webhook_secrets
    peer = connection.client.host if connection.client else None
    forwarded = joined_forwarded_for(connection.headers.getall("x-forwarded-for", []))
    IpRules(allowlist, settings.trusted_proxies).check(peer, forwarded)
    assert isinstance(connection, Request)
    body = await connection.body()
    verify_signature(
        body,
        connection.headers,
        secrets,
        container.clock.now().timestamp(),
        settings.webhook_tolerance_seconds,
    )


async def paysend_guard(connection: Connection, _: BaseRouteHandler) -> None:
    await _authenticate(connection, "paysend")


async def atm_guard(connection: Connection, _: BaseRouteHandler) -> None:
    await _authenticate(connection, "atm")


WEBHOOK_RESPONSES: dict[int, Any] = {
    200: ResponseSpec(
        data_container=WebhookResult,
        description="Acknowledged (`processed`, `ignored` or `approved`)",
        generate_examples=False,
    ),
    **responses_for(400, 401, 403, 409, 413, 422, 429),
}


class WebhooksController(Controller):
    """No bearer token and so no OpenAPI security requirement: the source IP allowlist and the
    HMAC signature of the raw body (described on each operation) authenticate the sender."""

    path = "/wallet/webhook"
    tags = ["webhooks"]

    @post(
        "/paysend",
        status_code=200,
        summary="Paysend deposit notification",
        description="Signed with `X-Paysend-Signature` (hex HMAC-SHA256 of the raw body) or "
        '`X-Signature: t=<unix>,v1=<hex HMAC of "<t>.<body>">`. Each `transactionId` is '
        "credited at most once; repeats answer with the same `transaction_id`. "
        "`status` other than COMPLETED is acknowledged and ignored. Checked in this order: "
        "source IP (403 `ip_not_allowed`), signature (401 `invalid_signature` or "
        "`stale_signature`), then the body (400). Unknown phone: 422 `recipient_not_found`.",
        operation_id="paysendWebhook",
        guards=[paysend_guard],
        opt={"rate_scope": "webhook:paysend"},
        responses=WEBHOOK_RESPONSES,
    )
    async def paysend(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PaysendNotification],
        container: ContainerDep,
        idempotency_key: Annotated[str | None, OPTIONAL_IDEMPOTENCY_KEY] = None,
    ) -> Response[bytes]:
        core = container.core
        deposit = ProviderDeposit(
            transaction_id=data.transactionId,
            status=data.status,
            phone_number=data.recipient.phone_number,
            amount=data.recipient.amount,
            currency=data.recipient.currency,
        )

        async def run(idempotency: Idempotency | None) -> DepositOutcome | Replayed:
            return await core.deposits.paysend(deposit, idempotency)

        def render(outcome: DepositOutcome) -> tuple[int, msgspec.Struct]:
            transaction = outcome.transaction
            return 200, WebhookResult(outcome.status, transaction.id if transaction else None)  # type: ignore[arg-type]

        return await run_idempotent(
            request,
            container.secret_box,
            scope="webhook:paysend",
            required=False,
            run=run,
            render=render,
        )

    @post(
        "/cashout",
        status_code=200,
        summary="ATM network verifies a cash-out code",
        description="Signed with `X-Signature` (or the legacy header). A right code posts the "
        "held amount; five wrong codes cancel the cash-out and release the hold. Checked in "
        "this order: source IP (403), signature (401), then the body (400). Wrong code: 422 "
        "`invalid_withdrawal_code` (`too_many_attempts` at the limit); expired: 422 `expired`; "
        "already completed: 409 `not_pending`.",
        operation_id="cashoutWebhook",
        guards=[atm_guard],
        opt={"rate_scope": "webhook:atm"},
        responses=WEBHOOK_RESPONSES,
    )
    async def cashout(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CashoutVerification],
        container: ContainerDep,
        idempotency_key: Annotated[str | None, OPTIONAL_IDEMPOTENCY_KEY] = None,
    ) -> Response[bytes]:
        core = container.core

        async def run(idempotency: Idempotency | None) -> Transaction | Replayed:
            return await core.cashouts.verify(data.phone_number, data.withdrawal_code, idempotency)

        def render(transaction: Transaction) -> tuple[int, msgspec.Struct]:
            amount = format_minor(transaction.amount, core.ctx.currencies.get(transaction.currency))
            return 200, WebhookResult("approved", transaction.id, amount, transaction.currency)

        return await run_idempotent(
            request,
            container.secret_box,
            scope="webhook:atm",
            required=False,
            run=run,
            render=render,
        )
