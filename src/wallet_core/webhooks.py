"""Outgoing webhooks: endpoints integrators register, deliveries of events to them, the retry
schedule and the signature, all pure.

A delivery is a row per (endpoint, event), made when the dispatcher fans an event out, so it is
never lost: a worker leases it (``next_attempt_at`` moves past the lease) before it sends, and a
worker that dies mid-send leaves it to be offered again when the lease ends (at least once).
Failures back off exponentially with jitter, capped, until the retry window after the event has
passed; then the delivery is ``failed``.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from wallet_core.errors import FieldError, ValidationFailed
from wallet_core.events import Event, EventType

MAX_ENDPOINTS_PER_USER = 10
#: Deliveries to one endpoint in flight at once, per worker process.
ENDPOINT_CONCURRENCY = 8
MAX_BACKOFF = timedelta(hours=6)
#: How long an old secret still signs after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
ALL_TYPES = "*"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: UUID
    user_id: UUID
    url: str
    event_types: tuple[str, ...]
    description: str
    is_active: bool
    #: The signing secret, sealed by the core's secret box (never stored in clear).
    sealed_secret: bytes
    created_at: datetime
    updated_at: datetime
    sealed_previous_secret: bytes | None = None
    previous_secret_expires_at: datetime | None = None

    def wants(self, event: Event) -> bool:
        return self.is_active and (
            ALL_TYPES in self.event_types or event.type.value in self.event_types
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: EventType
    status: DeliveryStatus
    created_at: datetime
    #: When the event happened: the retry window runs from here.
    event_created_at: datetime
    next_attempt_at: datetime | None
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=10)
    window: timedelta = timedelta(hours=72)
    timeout_seconds: float = 10.0

    @property
    def lease(self) -> timedelta:
        """How long a worker holds a delivery it is sending: past its timeout, with margin."""
        return timedelta(seconds=self.timeout_seconds * 2 + 5)


def backoff(attempts: int, base: timedelta, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failure: base * 2^(n-1), capped at 6 h, with "full
    jitter" on the upper half (between half and all of it) so receivers coming back are not hit
    by every retry at once."""
    rng = rng or random.Random()
    exponent = min(max(attempts - 1, 0), 30)
    ceiling = min(base * (2**exponent), MAX_BACKOFF)
    wait: timedelta = ceiling * rng.uniform(0.5, 1.0)
    return wait


def after_failure(
    delivery: Delivery,
    now: datetime,
    policy: RetryPolicy,
    status_code: int | None,
    error: str,
    rng: random.Random | None = None,
) -> Delivery:
    attempts = delivery.attempts + 1
    retry_at = now + backoff(attempts, policy.base, rng)
    gives_up = retry_at > delivery.event_created_at + policy.window
    return replace(
        delivery,
        attempts=attempts,
        last_status_code=status_code,
        last_error=error[:500],
        status=DeliveryStatus.FAILED if gives_up else DeliveryStatus.PENDING,
        next_attempt_at=None if gives_up else retry_at,
    )


def after_success(delivery: Delivery, now: datetime, status_code: int) -> Delivery:
    return replace(
        delivery,
        attempts=delivery.attempts + 1,
        last_status_code=status_code,
        last_error=None,
        status=DeliveryStatus.SUCCEEDED,
        next_attempt_at=None,
        delivered_at=now,
    )


def signature(secrets: tuple[str, ...], timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, one ``v1`` per secret: the
    scheme our own incoming webhooks accept."""
    signed = f"{timestamp}.".encode() + body
    macs = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def check_event_types(types: list[str]) -> tuple[str, ...]:
    """The endpoint's types, validated: ``["*"]`` or known event types (at least one)."""
    known = {t.value for t in EventType}
    if not types:
        raise ValidationFailed(
            'event_types needs at least one type, or ["*"].',
            [FieldError("event_types", "empty")],
        )
    for name in types:
        if name != ALL_TYPES and name not in known:
            raise ValidationFailed(
                f"Unknown event type {name!r}; allowed: *, {', '.join(sorted(known))}",
                [FieldError("event_types", f"unknown event type {name!r}")],
            )
    if ALL_TYPES in types:
        return (ALL_TYPES,)
    return tuple(dict.fromkeys(types))


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one attempt got: the receiver's status code, or why there was none."""

    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class NoSender:
    """The default when no HTTP sender is configured: every target allowed, nothing sent."""

    async def check_target(self, url: str) -> str | None:
        return None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], seconds: float
    ) -> SendOutcome:
        return SendOutcome(error="no webhook sender is configured")
