"""What the service tells the world: the outbox of notifications, the events and who may see
them, and the outgoing webhooks (endpoints, deliveries, the dispatcher's cursor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from adapters.sql.records.base import Base, Payload, one_of, only_where


class OutboxRecord(Base):
    __tablename__ = "outbox_events"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    payload: Mapped[dict[str, str]] = mapped_column(Payload)
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_outbox_events_unsent",
            "created_at",
            **only_where("sent_at IS NULL"),
        ),
    )


class EventRecord(Base):
    """What integrators are told about; ``(xid, seq)`` is the event's place in commit order
    (the writing transaction's id, then a sequence within and across transactions)."""

    __tablename__ = "events"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(Payload)
    transaction_id: Mapped[UUID | None]
    wallet_id: Mapped[UUID | None]
    xid: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_events_position", "xid", "seq", unique=True),
        Index("ix_events_transaction", "transaction_id", "id"),
    )


class EventViewerRecord(Base):
    """Who may see an event (staff see all): one row per party, so a user's page of events is
    one index range, at any depth."""

    __tablename__ = "event_viewers"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    event_id: Mapped[UUID] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_event_viewers_event_id", "event_id"),)


class WebhookEndpointRecord(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(Payload)
    description: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDeliveryRecord(Base):
    """One event for one endpoint; ``next_attempt_at`` is also the lease of a worker sending it."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    endpoint_id: Mapped[UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[UUID]
    event_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    event_created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(one_of("status", ("pending", "succeeded", "failed")), name="status_known"),
        Index("ix_webhook_deliveries_pair", "endpoint_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_log", "endpoint_id", "id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            **only_where("status = 'pending'"),
        ),
    )


class WebhookCursorRecord(Base):
    """How far the fan-out of events to deliveries has got (one row)."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
