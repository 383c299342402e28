"""``/webhook-endpoints``: an integrator's URLs that receive signed events, and their deliveries
log (with a manual retry)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from msgspec import UNSET

from entrypoints.http.context import ActorDep, ContainerDep
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
        "otherwise non-public address, is 400 `validation_error`.",
        operation_id="createWebhookEndpoint",
        responses=responses_for(400, 401, 413, 422, 429),
    )
    async def create_endpoint(
        self, data: JSONBody[WebhookEndpointCreate], actor: ActorDep, container: ContainerDep
    ) -> WebhookEndpointWithSecret:
        made = await container.core.webhooks.create(
            actor, data.url, list(data.event_types), data.description
        )
        return with_secret(made)

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
        "one with the new secret and one with the old.",
        operation_id="rotateWebhookSecret",
        responses=responses_for(400, 401, 404, 429),
    )
    async def rotate_secret(
        self, endpoint_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> WebhookEndpointWithSecret:
        return with_secret(await container.core.webhooks.rotate_secret(actor, endpoint_id))

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
