"""Events and outgoing webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from entrypoints.http.schemas.fields import NO_NUL, Strict
from entrypoints.http.schemas.transactions import TransactionResponse
from entrypoints.http.schemas.wallets import WalletResponse

EventTypeName = Literal[
    "transaction.created",
    "transaction.completed",
    "transaction.rejected",
    "transaction.cancelled",
    "transaction.expired",
    "transaction.reversed",
    "wallet.updated",
]


class EventData(msgspec.Struct, omit_defaults=True):
    """The object the event is about, as of the event: a transaction or a wallet."""

    transaction: TransactionResponse | UnsetType = UNSET
    wallet: WalletResponse | UnsetType = UNSET


class EventResponse(msgspec.Struct):
    id: UUID
    type: EventTypeName
    created_at: datetime
    data: EventData


class EventPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[EventResponse]
    next_cursor: str | None = None


WebhookUrl = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2048,
        pattern=NO_NUL,
        description="Where events are POSTed: https:// (http:// too outside production); its "
        "host must resolve to public addresses only.",
        examples=["https://hooks.example.com/wallet"],
    ),
]
EventTypeList = Annotated[
    list[Annotated[str, Meta(max_length=64)]],
    Meta(
        min_length=1,
        max_length=16,
        description='Event types to receive, or ["*"] for all.',
        examples=[["transaction.completed", "wallet.updated"]],
    ),
]
EndpointDescription = Annotated[str, Meta(max_length=200, pattern=NO_NUL)]


class WebhookEndpointCreate(Strict):
    url: WebhookUrl
    event_types: EventTypeList
    description: EndpointDescription | None = None


class WebhookEndpointUpdate(Strict):
    url: WebhookUrl | UnsetType = UNSET
    event_types: EventTypeList | UnsetType = UNSET
    description: EndpointDescription | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class WebhookEndpointResponse(msgspec.Struct):
    id: UUID
    url: str
    event_types: list[str]
    description: str
    is_active: bool
    created_at: datetime


class WebhookEndpointWithSecret(msgspec.Struct):
    """Only at creation and rotation: the signing secret is never shown again."""

    id: UUID
    url: str
    event_types: list[str]
    description: str
    is_active: bool
    created_at: datetime
    secret: Annotated[str, Meta(examples=["whsec_3yqk1Nq2pX9cT4m8h5ZbV7wR0dLsJfEa6uGoIeKrCnA"])]


class WebhookEndpointPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[WebhookEndpointResponse]
    next_cursor: str | None = None


class DeliveryResponse(msgspec.Struct):
    id: UUID
    event_id: UUID
    event_type: EventTypeName
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[DeliveryResponse]
    next_cursor: str | None = None
