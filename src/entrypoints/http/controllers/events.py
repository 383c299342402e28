"""``/events``: what happened to your transactions and wallets (staff: everything), as a list,
one by one, and live as Server-Sent Events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import Stream

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.pagination import links
from entrypoints.http.params import comma_values, instant
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import EventPage, EventResponse
from wallet_core.errors import FieldError, RateLimited, ValidationFailed
from wallet_core.events import Event
from wallet_core.services.context import Actor
from wallet_core.services.events import EventListParams

#: A comment line at least this often, so proxies and clients see a live connection.
KEEPALIVE_SECONDS = 15.0
#: Open streams per user in one server process.
STREAMS_PER_USER = 5
STREAM_DESCRIPTION = (
    "Server-Sent Events: per event `id: <event id>`, `event: <type>`, `data: <the event JSON, "
    "as GET /events/{id} shows it>`, then a blank line; `: keep-alive` comment lines between."
)
STREAM_EXAMPLE = (
    "id: 0193a1b2-0000-7000-8000-000000000000\nevent: transaction.created\n"
    'data: {"id":"0193a1b2-0000-7000-8000-000000000000","type":"transaction.created",'
    '"created_at":"2026-12-02T02:00:00Z","data":{"transaction":{}}}\n\n'
)


@dataclass
class StreamOperation(Operation):
    """Describes the 200 body as text/event-stream (Litestar only knows it as a string)."""

    def __post_init__(self) -> None:
        response = (self.responses or {}).get("200")
        if isinstance(response, OpenAPIResponse):
            schema = Schema(
                type=OpenAPIType.STRING, description=STREAM_DESCRIPTION, examples=[STREAM_EXAMPLE]
            )
            response.content = {"text/event-stream": OpenAPIMediaType(schema=schema)}


SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_body(event: Event) -> EventResponse:
    return msgspec.convert(event.body(), EventResponse)


def sse_frame(event: Event) -> bytes:
    data = json.dumps(event.body(), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type.value}\ndata: {data}\n\n".encode()


def _uuid(name: str, value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{name} must be an event id (a UUID).", [FieldError(name, "not a UUID")]
        ) from None


class StreamSlots:
    """How many streams each user has open in this process."""

    def __init__(self, per_user: int) -> None:
        self._per_user = per_user
        self._open: Counter[UUID] = Counter()

    def take(self, user_id: UUID) -> None:
        if self._open[user_id] >= self._per_user:
            raise RateLimited(
                f"At most {self._per_user} open event streams per user.", retry_after=5
            )
        self._open[user_id] += 1

    def give_back(self, user_id: UUID) -> None:
        self._open[user_id] -= 1
        if self._open[user_id] <= 0:
            del self._open[user_id]


def _slots(request: Request[Any, Any, Any]) -> StreamSlots:
    slots = getattr(request.app.state, "stream_slots", None)
    if slots is None:
        slots = StreamSlots(STREAMS_PER_USER)
        request.app.state.stream_slots = slots
    return slots


class EventsController(Controller):
    path = "/events"
    tags = ["events"]

    @get(
        "/",
        summary="Your events, newest first (staff: all events)",
        description="Events of transactions that involve one of your wallets, and of your "
        "wallets. Filters: `type` (comma-separated), `created_after`, `created_before`, "
        "`transaction` (a transaction id). Page numbers (`page`) or keyset (`cursor`).",
        operation_id="listEvents",
        responses=responses_for(400, 401, 429),
    )
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        actor: ActorDep,
        container: ContainerDep,
        type: FromQuery[str | None] = None,
        created_after: FromQuery[str | None] = None,
        created_before: FromQuery[str | None] = None,
        transaction: FromQuery[str | None] = None,
        page: FromQuery[int | None] = None,
        page_size: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EventPage:
        params = EventListParams(
            types=comma_values(type),
            created_after=instant("created_after", created_after),
            created_before=instant("created_before", created_before),
            transaction=_uuid("transaction", transaction),
            page=page,
            page_size=page_size,
            cursor=cursor,
        )
        result = await container.core.events.list(actor, params)
        return EventPage(
            count=result.count,
            results=[event_body(e) for e in result.items],
            **links(request, result),
        )

    @get(
        "/stream",
        summary="Your events, live (Server-Sent Events)",
        description="Each event you may see, as `id:`, `event:` (its type) and `data:` (the "
        "event JSON), within a second of its commit, whichever server process made it. Send "
        "`Last-Event-ID` (or `last_event_id`) to resume after that event with no gap and no "
        "repeat. A `: keep-alive` comment at least every 15 s. The connection ends when the "
        f"access token expires. At most {STREAMS_PER_USER} open streams per user and process "
        "(more: 429).",
        operation_id="streamEvents",
        responses={
            200: ResponseSpec(
                data_container=str,
                description="The live events",
                media_type="text/event-stream",
                generate_examples=False,
            ),
            **responses_for(400, 401, 429),
        },
        operation_class=StreamOperation,
    )
    async def stream_events(
        self,
        request: Request[Any, Any, Any],
        actor: ActorDep,
        container: ContainerDep,
        last_event_id: FromQuery[str | None] = None,
        last_event_id_header: Annotated[
            str | None,
            HeaderParameter(name="Last-Event-ID", required=False, description="Resume after it."),
        ] = None,
    ) -> Stream:
        after = _uuid("last_event_id", last_event_id_header or last_event_id)
        events = container.core.events
        position = await events.start(after)
        slots = _slots(request)
        slots.take(actor.user_id)
        return Stream(
            _frames(events, actor, position, slots),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    @get(
        "/{event_id:uuid}",
        summary="One event (if you may see it)",
        operation_id="getEvent",
        responses=responses_for(400, 401, 404, 429),
    )
    async def get_event(
        self, event_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> EventResponse:
        return event_body(await container.core.events.get(actor, event_id))


async def _frames(
    events: Any, actor: Actor, position: Any, slots: StreamSlots
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 1000\n: connected\n\n"
        feed = events.feed(
            actor, position, until=actor.expires_at, heartbeat_seconds=KEEPALIVE_SECONDS
        )
        async for event in feed:
            yield b": keep-alive\n\n" if event is None else sse_frame(event)
    finally:
        slots.give_back(actor.user_id)
