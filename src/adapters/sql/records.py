"""Table definitions (``*Record``), separate from the domain objects they store.

Constraints back up the ledger's invariants in the database too: a wallet's available balance
never below zero, amounts positive, states and kinds from a closed set, uniqueness where the
contract promises it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Byte-wise ordering for usernames on Postgres, so ordering matches SQLite and Python.
Username = String(150).with_variant(String(150, collation="C"), "postgresql")
Payload = JSON().with_variant(JSONB(), "postgresql")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _only_where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both dialects."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


#: The metadata of a transaction the client gave none (the metadata index leaves those out).
EMPTY_METADATA = "'{}'::jsonb"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {
        UUID: GUID(),
        datetime: DateTimeUTC(),
        date: Date(),
    }


def table_of(record: type[Base]) -> Table:
    """The ``Table`` behind a record class (typed: ``__table__`` is declared as a FromClause)."""
    table = record.__table__
    assert isinstance(table, Table)
    return table


class UserRecord(Base):
    __tablename__ = "users"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(Username)
    phone_number: Mapped[str] = mapped_column(String(16), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    date_of_birth: Mapped[date | None]
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
        CheckConstraint("email = lower(email)", name="email_lower"),
    )


ACCOUNT_KINDS = ("wallet", "system")
FUNDING_SOURCES = ("paysend", "blf_atm", "internal", "manual")
TRANSACTION_TYPES = ("deposit", "withdrawal", "transfer", "reversal")
TRANSACTION_STATUSES = ("pending", "completed", "rejected", "cancelled", "expired", "failed")
ENTRY_COLUMNS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
POSTED_TOTALS = ("debits_posted", "credits_posted")


class AccountRecord(Base):
    __tablename__ = "accounts"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    owner_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id"))
    owner_username: Mapped[str | None] = mapped_column(Username)
    source: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    transaction_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(_in("kind", ACCOUNT_KINDS), name="kind"),
        CheckConstraint("transaction_count >= 0", name="transfer_count_non_negative"),
        CheckConstraint(
            "(kind = 'wallet' AND owner_id IS NOT NULL AND source IS NULL)"
            " OR (kind = 'system' AND owner_id IS NULL AND source IS NOT NULL)",
            name="owner_or_source",
        ),
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0"
            " AND debits_pending >= 0 AND credits_pending >= 0",
            name="totals_non_negative",
        ),
        CheckConstraint(
            "kind <> 'wallet' OR credits_posted - debits_posted - debits_pending >= 0",
            name="wallet_available_non_negative",
        ),
        Index("uq_accounts_owner_currency", "owner_id", "currency", unique=True),
        Index("uq_accounts_source_currency", "source", "currency", unique=True),
        Index("ix_accounts_created_at_id", "created_at", "id"),
    )


class TransactionRecord(Base):
    __tablename__ = "transactions"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    funding_source: Mapped[str] = mapped_column(String(16))
    debit_account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(140), default="")
    provider_id: Mapped[str | None] = mapped_column(String(255))
    sender_user_id: Mapped[UUID | None]
    sender_username: Mapped[str | None] = mapped_column(Username)
    sender_wallet_id: Mapped[UUID | None]
    recipient_user_id: Mapped[UUID | None]
    recipient_username: Mapped[str | None] = mapped_column(Username)
    recipient_wallet_id: Mapped[UUID | None]
    expires_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    code_digest: Mapped[str | None] = mapped_column(String(128))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # ``metadata`` is the column's name (and the API's); the declarative base reserves the
    # attribute name, so the mapped attribute is ``meta``.
    meta: Mapped[dict[str, str]] = mapped_column("metadata", Payload, default=dict)
    reverses: Mapped[UUID | None] = mapped_column(ForeignKey("transactions.id"))
    reversed_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        CheckConstraint(_in("type", TRANSACTION_TYPES), name="type"),
        CheckConstraint(_in("status", TRANSACTION_STATUSES), name="status"),
        CheckConstraint(_in("funding_source", FUNDING_SOURCES), name="funding_source"),
        CheckConstraint("failed_attempts >= 0", name="attempts_non_negative"),
        # Backs the reversal guard: the reversals of a transaction never exceed it.
        CheckConstraint(
            "reversed_amount >= 0 AND reversed_amount <= amount", name="reversed_within_amount"
        ),
        CheckConstraint("(type = 'reversal') = (reverses IS NOT NULL)", name="reversal_reverses"),
        # Indexes on values most rows leave empty keep only the rows that have one (a transfer
        # then writes none of them, on its insert or its accept). Every query using them implies
        # the condition; the metadata filter states it.
        Index(
            "uq_transactions_source_provider_id",
            "funding_source",
            "provider_id",
            unique=True,
            **_only_where("provider_id IS NOT NULL"),
        ),
        Index(
            "ix_transactions_code_digest", "code_digest", **_only_where("code_digest IS NOT NULL")
        ),
        Index("ix_transactions_reverses", "reverses", **_only_where("reverses IS NOT NULL")),
        # Keyset pagination and default ordering (newest first), for staff and per party.
        Index("ix_transactions_created_at_id", "created_at", "id"),
        Index("ix_transactions_sender_created", "sender_user_id", "created_at", "id"),
        Index("ix_transactions_recipient_created", "recipient_user_id", "created_at", "id"),
        Index("ix_transactions_debit_account", "debit_account_id", "created_at"),
        Index("ix_transactions_credit_account", "credit_account_id", "created_at"),
        Index("ix_transactions_amount_id", "amount", "id"),
        # The expiry job scans only pending rows by expiry time.
        Index(
            "ix_transactions_pending_expiry",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # ``metadata[key]=value`` filters: containment on PostgreSQL (SQLite scans).
        Index(
            "ix_transactions_metadata",
            "metadata",
            postgresql_using="gin",
            postgresql_where=text(f"metadata <> {EMPTY_METADATA}"),
        ).ddl_if(dialect="postgresql"),
    )


class EntryRecord(Base):
    """Immutable ledger lines (Postgres refuses UPDATE and DELETE on this table by trigger)."""

    __tablename__ = "entries"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    transaction_id: Mapped[UUID] = mapped_column(ForeignKey("transactions.id"), index=True)
    # No index of its own: every query by account reads posted lines, which
    # ``ix_entries_account_posted`` holds (and accounts are never deleted).
    account_id: Mapped[UUID] = mapped_column(ForeignKey("accounts.id"))
    total: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)
    posted_at: Mapped[datetime]
    #: The account's posted balance right after this line (posted lines only).
    balance_after: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(_in("total", ENTRY_COLUMNS), name="total"),
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint(
            f"({_in('total', POSTED_TOTALS)}) = (balance_after IS NOT NULL)",
            name="balance_after_when_posted",
        ),
        # An account's posted lines by time: a statement page, and the balance at an instant
        # (the last line at or before it) in one index lookup.
        Index(
            "ix_entries_account_posted",
            "account_id",
            "posted_at",
            postgresql_include=["balance_after"],
            postgresql_where=text("balance_after IS NOT NULL"),
            sqlite_where=text("balance_after IS NOT NULL"),
        ),
    )


class RefreshTokenRecord(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    family_id: Mapped[UUID] = mapped_column(index=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SessionMarkRecord(Base):
    """A user's session generation; rows exist only for users whose sessions were ever ended."""

    __tablename__ = "session_marks"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (CheckConstraint("generation > 0", name="generation_positive"),)


class IdempotencyKeyRecord(Base):
    """An idempotency key and its receipt (the first request's sealed outcome). Written in the
    same transaction as the change it describes, so a key is never left claimed by a request
    that failed."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    receipt: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


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
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
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
        CheckConstraint(_in("status", ("pending", "succeeded", "failed")), name="status_known"),
        Index("ix_webhook_deliveries_pair", "endpoint_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_log", "endpoint_id", "id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class WebhookCursorRecord(Base):
    """How far the fan-out of events to deliveries has got (one row)."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger)
