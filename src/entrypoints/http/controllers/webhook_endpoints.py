"""``/webhook-endpoints``: an integrator's URLs that receive signed events, and their deliveries
log (with a manual retry)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from msgspec import UNSET

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.idempotency import OPTIONAL_IDEMPOTENCY_KEY, run_idempotent
from entrypoints.http.pagination import links
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import (
    DeliveryPage,
    DeliveryResponse,
    WebhookEndpointCreate,
    WebhookEndpointPage,
    WebhookEndpointResponse,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from wallet_core.services.idempotency import Idempotency, Replayed
from wallet_core.services.webhooks import EndpointChanges, NewSecret
from wallet_core.webhooks import Delivery, WebhookEndpoint


def endpoint_body(e: WebhookEndpoint) -> WebhookEndpointResponse:
    return WebhookEndpointResponse(
        id=e.id,
        url=e.url,
        event_types=list(e.event_types),
        description=e.description,
        is_active=e.is_active,
        created_at=e.created_at,
    )


def with_secret(made: NewSecret) -> WebhookEndpointWithSecret:
    e = made.endpoint
    return WebhookEndpointWithSecret(
        id=e.id,
        url=e.url,
        event_types=list(e.event_types),
        description=e.description,
        is_active=e.is_active,
        created_at=e.created_at,
        secret=made.secret,
    )


def delivery_body(d: Delivery) -> DeliveryResponse:
    return DeliveryResponse(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type.value,
        status=d.status.value,
        attempts=d.attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


class WebhookEndpointsController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhook endpoints"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Register a webhook endpoint",
        description="Events you may see (staff: all events) of the chosen `event_types` are "
        "POSTed to `url`, signed with `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
        '"<t>.<body>">`. The `secret` (`whsec_...`) is shown only in this answer and on '
        "rotation. At most 10 endpoints per user (422 `too_many_endpoints`); a URL that is not "
        "https:// in production, or whose host resolves to a loopback, private, link-local or "
        "otherwise non-public address, is 400 `validation_error`. An optional `Idempotency-Key` "
        "makes a retry answer like the first request (the same endpoint and secret).",
        operation_id="createWebhookEndpoint",
        responses={
            201: ResponseSpec(
                data_container=WebhookEndpointWithSecret,
                description="The new endpoint, with its secret (shown only here)",
                generate_examples=False,
            ),
            **responses_for(400, 401, 409, 413, 422, 429),
        },
    )
    async def create_endpoint(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WebhookEndpointCreate],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str | None, OPTIONAL_IDEMPOTENCY_KEY] = None,
    ) -> Response[bytes]:
        webhooks = container.core.webhooks

        async def run(idempotency: Idempotency | None) -> NewSecret | Replayed:
            return await webhooks.create(
                actor, data.url, list(data.event_types), data.description, idempotency
            )

        def render(made: NewSecret) -> tuple[int, msgspec.Struct]:
            return 201, with_secret(made)

        return await run_idempotent(
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:create-webhook-endpoint",
            required=False,
            run=run,
            render=render,
        )

    @get(
        "/",
        summary="Your webhook endpoints (without their secrets)",
        operation_id="listWebhookEndpoints",
        responses=responses_for(401, 429),
    )
    async def list_endpoints(self, actor: ActorDep, container: ContainerDep) -> WebhookEndpointPage:
        endpoints = await container.core.webhooks.list(actor)
        return WebhookEndpointPage(
            count=len(endpoints),
            next=None,
            previous=None,
            results=[endpoint_body(e) for e in endpoints],
        )

    @get(
        "/{endpoint_id:uuid}",
        summary="One of your webhook endpoints",
        operation_id="getWebhookEndpoint",
        responses=responses_for(400, 401, 404, 429),
    )
    async def get_endpoint(
        self, endpoint_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> WebhookEndpointResponse:
        return endpoint_body(await container.core.webhooks.get(actor, endpoint_id))

    @patch(
        "/{endpoint_id:uuid}",
        summary="Change a webhook endpoint (url, event types, description, active)",
        operation_id="updateWebhookEndpoint",
        responses=responses_for(400, 401, 404, 413, 429),
    )
    async def update_endpoint(
        self,
        endpoint_id: FromPath[UUID],
        data: JSONBody[WebhookEndpointUpdate],
        actor: ActorDep,
        container: ContainerDep,
    ) -> WebhookEndpointResponse:
        changes = EndpointChanges(
            url=None if data.url is UNSET else data.url,
            event_types=None if data.event_types is UNSET else list(data.event_types),
            description=None if data.description is UNSET else data.description,
            is_active=None if data.is_active is UNSET else data.is_active,
        )
        updated = await container.core.webhooks.update(actor, endpoint_id, changes)
        return endpoint_body(updated)

    @delete(
        "/{endpoint_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a webhook endpoint (nothing more is delivered to it)",
        operation_id="deleteWebhookEndpoint",
        responses=responses_for(400, 401, 404, 429),
    )
    async def delete_endpoint(
        self, endpoint_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> None:
        await container.core.webhooks.delete(actor, endpoint_id)

    @post(
        "/{endpoint_id:uuid}/rotate-secret",
        status_code=200,
        summary="Rotate the signing secret",
        description="Answers the new `secret`; for 24 h deliveries carry two `v1=` signatures, "
        "one with the new secret and one with the old. An optional `Idempotency-Key` makes a "
        "retry answer the same new secret instead of rotating again.",
        operation_id="rotateWebhookSecret",
        responses={
            200: ResponseSpec(
                data_container=WebhookEndpointWithSecret,
                description="The endpoint with its new secret",
                generate_examples=False,
            ),
            **responses_for(400, 401, 404, 409, 422, 429),
        },
    )
    async def rotate_secret(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
        idempotency_key: Annotated[str | None, OPTIONAL_IDEMPOTENCY_KEY] = None,
    ) -> Response[bytes]:
        webhooks = container.core.webhooks

        async def run(idempotency: Idempotency | None) -> NewSecret | Replayed:
            return await webhooks.rotate_secret(actor, endpoint_id, idempotency)

        def render(made: NewSecret) -> tuple[int, msgspec.Struct]:
            return 200, with_secret(made)

        return await run_idempotent(
            request,
            container.secret_box,
            scope=f"user:{actor.user_id}:rotate-webhook-secret",
            required=False,
            run=run,
            render=render,
        )

    @get(
        "/{endpoint_id:uuid}/deliveries",
        summary="The endpoint's deliveries, newest first",
        operation_id="listWebhookDeliveries",
        responses=responses_for(400, 401, 404, 429),
    )
    async def list_deliveries(
        self,
        request: Request[Any, Any, Any],
        endpoint_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
        status: FromQuery[str | None] = None,
        page: FromQuery[int | None] = None,
        page_size: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> DeliveryPage:
        result = await container.core.webhooks.deliveries(
            actor, endpoint_id, status=status, page=page, page_size=page_size, cursor=cursor
        )
        return DeliveryPage(
            count=result.count,
            results=[delivery_body(d) for d in result.items],
            **links(request, result),
        )

    @post(
        "/{endpoint_id:uuid}/deliveries/{delivery_id:uuid}/retry",
        status_code=HTTP_202_ACCEPTED,
        summary="Attempt a delivery again now (also one that failed)",
        operation_id="retryWebhookDelivery",
        responses=responses_for(400, 401, 404, 429),
    )
    async def retry_delivery(
        self,
        endpoint_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
    ) -> DeliveryResponse:
        delivery = await container.core.webhooks.retry(actor, endpoint_id, delivery_id)
        container.core.ctx.event_signal.notify()  # this process's delivery loop looks now
        return delivery_body(delivery)
