"""The ledger's tables and the sign-in state around them: users, accounts, transactions, entries,
refresh tokens, session marks and idempotency receipts.

Constraints back up the ledger's invariants in the database too: a wallet's available balance
never below zero, amounts positive, states and kinds from a closed set, uniqueness where the
contract promises it.
"""

from __future__ import annotations

from datetime import date, datetime
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
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from adapters.sql.records.base import (
    ACCOUNT_KINDS,
    EMPTY_METADATA,
    ENTRY_COLUMNS,
    FUNDING_SOURCES,
    POSTED_TOTALS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    Base,
    Payload,
    Username,
    one_of,
    only_where,
)


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
        CheckConstraint(one_of("kind", ACCOUNT_KINDS), name="kind"),
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
        CheckConstraint(one_of("type", TRANSACTION_TYPES), name="type"),
        CheckConstraint(one_of("status", TRANSACTION_STATUSES), name="status"),
        CheckConstraint(one_of("funding_source", FUNDING_SOURCES), name="funding_source"),
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
            **only_where("provider_id IS NOT NULL"),
        ),
        Index(
            "ix_transactions_code_digest", "code_digest", **only_where("code_digest IS NOT NULL")
        ),
        Index("ix_transactions_reverses", "reverses", **only_where("reverses IS NOT NULL")),
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
            **only_where("status = 'pending'"),
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
        CheckConstraint(one_of("total", ENTRY_COLUMNS), name="total"),
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint(
            f"({one_of('total', POSTED_TOTALS)}) = (balance_after IS NOT NULL)",
            name="balance_after_when_posted",
        ),
        # An account's posted lines by time: a statement page, and the balance at an instant
        # (the last line at or before it) in one index lookup.
        Index(
            "ix_entries_account_posted",
            "account_id",
            "posted_at",
            postgresql_include=["balance_after"],
            **only_where("balance_after IS NOT NULL"),
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
