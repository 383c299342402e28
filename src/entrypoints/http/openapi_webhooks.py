"""The OpenAPI 3.1 ``webhooks`` section: what a registered webhook endpoint receives, one entry
per event type (the body is the same event object ``GET /events/{id}`` answers)."""

from __future__ import annotations

from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from wallet_core.events import EventType

EVENT_SCHEMA = "#/components/schemas/EventResponse"

_HEADERS = (
    ("X-Event-Id", "The event's id: deliveries are at least once, so dedupe by it."),
    ("X-Event-Type", "The event's type."),
    (
        "X-Signature",
        't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint secret>; one '
        "v1= per active secret (two for 24 h after a rotation). Refuse a t older than 5 min.",
    ),
)


def _operation(kind: EventType) -> Operation:
    return Operation(
        operation_id=f"webhook_{kind.value.replace('.', '_')}",
        summary=f"{kind.value} delivered to your endpoint",
        description="POSTed to each active endpoint that chose this type (or `*`) and whose "
        "owner may see the event. Answer 2xx within the timeout (10 s by default); anything "
        "else is retried with exponential backoff and jitter for up to 72 h. Redirects are not "
        "followed; events for one endpoint may arrive out of order.",
        tags=["webhook endpoints"],
        parameters=[
            Parameter(
                name=name,
                param_in="header",
                required=True,
                description=description,
                schema=Schema(type=OpenAPIType.STRING),
            )
            for name, description in _HEADERS
        ],
        request_body=RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=Reference(ref=EVENT_SCHEMA))},
        ),
        responses={
            "2XX": OpenAPIResponse(description="Delivered."),
            "default": OpenAPIResponse(
                description="Not delivered: retried later.",
                headers={"Retry-After": OpenAPIHeader(description="Ignored.")},
            ),
        },
    )


def event_webhooks() -> dict[str, PathItem | Reference]:
    return {kind.value: PathItem(post=_operation(kind)) for kind in EventType}
