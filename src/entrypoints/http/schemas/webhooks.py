"""Incoming webhooks (payment provider, ATM network) and health."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from entrypoints.http.schemas.fields import NO_NUL, Amount, Phone, ProviderCurrencyCode


class PaysendRecipient(msgspec.Struct):
    phone_number: Phone
    amount: Amount
    currency: ProviderCurrencyCode | None = None


class PaysendNotification(msgspec.Struct):
    """Paysend may add fields over time; unknown top-level fields are tolerated."""

    # Paysend's own field name.
    transactionId: Annotated[str, Meta(min_length=1, max_length=255, pattern=NO_NUL)]  # noqa: N815
    status: Annotated[str, Meta(min_length=1, max_length=64)]
    recipient: PaysendRecipient


class CashoutVerification(msgspec.Struct):
    """The ATM network's verification request (extra fields from the network are tolerated)."""

    phone_number: Phone
    withdrawal_code: Annotated[str, Meta(min_length=1, max_length=64)]


class WebhookResult(msgspec.Struct, omit_defaults=True):
    status: Literal["processed", "ignored", "approved"]
    transaction_id: UUID | None = None
    amount: str | None = None
    currency: str | None = None


class HealthResponse(msgspec.Struct):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = msgspec.field(default_factory=dict)
