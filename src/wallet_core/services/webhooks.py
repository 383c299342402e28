"""Webhook endpoints (an integrator's URLs, each with its own signing secret) and their
deliveries log, with a manual retry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from urllib.parse import urlsplit
from uuid import UUID

from wallet_core.errors import (
    FieldError,
    NotFound,
    TooManyEndpoints,
    ValidationFailed,
)
from wallet_core.ports import UnitOfWork, WebhookSender
from wallet_core.queries import Page, page_request, paginate
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import Idempotency, Replayed, run_once
from wallet_core.text import check_description
from wallet_core.webhooks import (
    MAX_ENDPOINTS_PER_USER,
    ROTATION_OVERLAP,
    SECRET_PREFIX,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
    check_event_types,
)

MAX_URL_LENGTH = 2048
MAX_ENDPOINT_DESCRIPTION = 200


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class NewSecret:
    """An endpoint with the secret it signs with: shown once, at creation and rotation."""

    endpoint: WebhookEndpoint
    secret: str


def _invalid_url(message: str) -> ValidationFailed:
    return ValidationFailed(message, [FieldError("url", message)])


class WebhookEndpointService:
    def __init__(self, ctx: Context, sender: WebhookSender, https_only: bool) -> None:
        self._ctx = ctx
        self._sender = sender
        self._https_only = https_only

    async def _check_url(self, url: str) -> str:
        text = url.strip()
        if len(text) > MAX_URL_LENGTH:
            raise _invalid_url(f"url has at most {MAX_URL_LENGTH} characters.")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise _invalid_url("url is not a valid URL.") from None
        allowed = ("https",) if self._https_only else ("https", "http")
        if parts.scheme not in allowed:
            raise _invalid_url(f"url must be {' or '.join(s + '://' for s in allowed)}.")
        if not parts.hostname or parts.username or parts.password:
            raise _invalid_url("url needs a host and no user name or password.")
        reason = await self._sender.check_target(text)
        if reason is not None:
            raise _invalid_url(reason)
        return text

    def _seal(self, secret: str) -> bytes:
        return self._ctx.secret_box.seal(secret.encode())

    async def create(
        self,
        actor: Actor,
        url: str,
        event_types: list[str],
        description: str | None = None,
        idempotency: Idempotency | None = None,
    ) -> NewSecret | Replayed:
        """A new endpoint and its secret; a retry with the same idempotency key gets the first
        answer back (the same endpoint and secret) instead of a second endpoint."""
        checked = await self._check_url(url)
        types = check_event_types(event_types)
        text = check_description(description, MAX_ENDPOINT_DESCRIPTION)
        secret = new_secret()
        now = self._ctx.clock.now()
        endpoint = WebhookEndpoint(
            id=self._ctx.ids.new_id(),
            user_id=actor.user_id,
            url=checked,
            event_types=types,
            description=text,
            is_active=True,
            sealed_secret=self._seal(secret),
            created_at=now,
            updated_at=now,
        )

        async def work(uow: UnitOfWork) -> NewSecret:
            await uow.users.lock(actor.user_id)  # one count per user at a time
            if len(await uow.webhooks.endpoints_of(actor.user_id)) >= MAX_ENDPOINTS_PER_USER:
                raise TooManyEndpoints(
                    f"At most {MAX_ENDPOINTS_PER_USER} webhook endpoints per user."
                )
            await uow.webhooks.add_endpoint(endpoint)
            return NewSecret(endpoint, secret)

        return await run_once(self._ctx, idempotency, work)

    async def list(self, actor: Actor) -> list[WebhookEndpoint]:
        async def work(uow: UnitOfWork) -> list[WebhookEndpoint]:
            return await uow.webhooks.endpoints_of(actor.user_id)

        return await self._ctx.storage.run_read(work)

    async def _mine(self, uow: UnitOfWork, actor: Actor, endpoint_id: UUID) -> WebhookEndpoint:
        endpoint = await uow.webhooks.get_endpoint(endpoint_id)
        if endpoint is None or endpoint.user_id != actor.user_id:
            raise NotFound("Webhook endpoint not found.")
        return endpoint

    async def get(self, actor: Actor, endpoint_id: UUID) -> WebhookEndpoint:
        async def work(uow: UnitOfWork) -> WebhookEndpoint:
            return await self._mine(uow, actor, endpoint_id)

        return await self._ctx.storage.run_read(work)

    async def update(
        self, actor: Actor, endpoint_id: UUID, changes: EndpointChanges
    ) -> WebhookEndpoint:
        url = await self._check_url(changes.url) if changes.url is not None else None
        types = check_event_types(changes.event_types) if changes.event_types is not None else None

        async def work(uow: UnitOfWork) -> WebhookEndpoint:
            endpoint = await self._mine(uow, actor, endpoint_id)
            updated = replace(
                endpoint,
                url=url or endpoint.url,
                event_types=types or endpoint.event_types,
                description=endpoint.description
                if changes.description is None
                else check_description(changes.description, MAX_ENDPOINT_DESCRIPTION),
                is_active=endpoint.is_active if changes.is_active is None else changes.is_active,
                updated_at=self._ctx.clock.now(),
            )
            await uow.webhooks.update_endpoint(updated)
            return updated

        return await self._ctx.storage.run(work)

    async def delete(self, actor: Actor, endpoint_id: UUID) -> None:
        async def work(uow: UnitOfWork) -> None:
            await self._mine(uow, actor, endpoint_id)
            await uow.webhooks.delete_endpoint(endpoint_id)

        await self._ctx.storage.run(work)

    async def rotate_secret(
        self, actor: Actor, endpoint_id: UUID, idempotency: Idempotency | None = None
    ) -> NewSecret | Replayed:
        """A new secret (the old one still signs for 24 h); a retry with the same idempotency
        key gets the same new secret back instead of rotating again."""
        secret = new_secret()
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> NewSecret:
            endpoint = await self._mine(uow, actor, endpoint_id)
            rotated = replace(
                endpoint,
                sealed_secret=self._seal(secret),
                sealed_previous_secret=endpoint.sealed_secret,
                previous_secret_expires_at=now + ROTATION_OVERLAP,
                updated_at=now,
            )
            await uow.webhooks.update_endpoint(rotated)
            return NewSecret(rotated, secret)

        return await run_once(self._ctx, idempotency, work)

    async def deliveries(
        self,
        actor: Actor,
        endpoint_id: UUID,
        *,
        status: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        wanted = _status(status)
        paging = page_request(page=page, page_size=page_size, cursor=cursor, ordering=())

        async def work(uow: UnitOfWork) -> tuple[list[Delivery], int | None]:
            await self._mine(uow, actor, endpoint_id)
            rows = await uow.webhooks.deliveries_of(endpoint_id, wanted, paging)
            count = (
                None if paging.keyset else await uow.webhooks.count_deliveries(endpoint_id, wanted)
            )
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        return paginate(rows, paging, count, (), lambda d: ((), d.id))

    async def retry(self, actor: Actor, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
        """Offer a delivery again now (also one that failed); a worker sends it."""
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> Delivery:
            await self._mine(uow, actor, endpoint_id)
            delivery = await uow.webhooks.get_delivery(delivery_id)
            if delivery is None or delivery.endpoint_id != endpoint_id:
                raise NotFound("Delivery not found.")
            again = replace(delivery, status=DeliveryStatus.PENDING, next_attempt_at=now)
            await uow.webhooks.save_delivery(again)
            return again

        return await self._ctx.storage.run(work)


def _status(text: str | None) -> DeliveryStatus | None:
    if text is None:
        return None
    try:
        return DeliveryStatus(text.strip())
    except ValueError:
        raise ValidationFailed(
            "status must be pending, succeeded or failed.",
            [FieldError("status", "one of pending, succeeded, failed")],
        ) from None
