"""Initial schema: users, accounts, transfers, entries, refresh tokens, idempotency, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 19:49:25.786996
"""

from __future__ import annotations

import advanced_alchemy.types.datetime
import advanced_alchemy.types.guid
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: Ledger entries are append-only (docs/ledger-model.md invariant 4): the database refuses changes too.
ENTRIES_IMMUTABLE = (
    """
    CREATE FUNCTION refuse_entry_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger entries are immutable' USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER entries_immutable BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION refuse_entry_change()
    """,
)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("claim_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "locked_until",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('in_flight', 'completed')", name=op.f("ck_idempotency_keys_state")
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "username",
            sa.String(length=150).with_variant(sa.String(length=150, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("phone_number", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("first_name", sa.String(length=150), nullable=False),
        sa.Column("last_name", sa.String(length=150), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("is_staff", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("phone_number", name=op.f("uq_users_phone_number")),
    )
    op.create_index(op.f("ix_users_created_at"), "users", ["created_at"], unique=False)
    op.create_index(
        "uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True
    )
    op.create_table(
        "accounts",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("owner_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "owner_username",
            sa.String(length=150).with_variant(sa.String(length=150, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("transfer_count", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "transfer_count >= 0", name=op.f("ck_accounts_transfer_count_non_negative")
        ),
        sa.CheckConstraint(
            "(kind = 'wallet' AND owner_id IS NOT NULL AND source IS NULL) OR (kind = 'system' AND owner_id IS NULL AND source IS NOT NULL)",
            name=op.f("ck_accounts_owner_or_source"),
        ),
        sa.CheckConstraint(
            "kind <> 'wallet' OR credits_posted - debits_posted - debits_pending >= 0",
            name=op.f("ck_accounts_wallet_available_non_negative"),
        ),
        sa.CheckConstraint("kind IN ('wallet', 'system')", name=op.f("ck_accounts_kind")),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name=op.f("ck_accounts_totals_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_accounts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index("ix_accounts_created_at_id", "accounts", ["created_at", "id"], unique=False)
    op.create_index("uq_accounts_owner_currency", "accounts", ["owner_id", "currency"], unique=True)
    op.create_index("uq_accounts_source_currency", "accounts", ["source", "currency"], unique=True)
    op.create_table(
        "outbox_events",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "dispatched_at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "sent_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_outbox_events_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index(
        "ix_outbox_events_unsent",
        "outbox_events",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("family_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "issued_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "rotated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column(
            "revoked_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_refresh_tokens_token_digest")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "transfers",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("funding_source", sa.String(length=16), nullable=False),
        sa.Column("debit_account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("credit_account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=140), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("sender_user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "sender_username",
            sa.String(length=150).with_variant(sa.String(length=150, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("sender_wallet_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("recipient_user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "recipient_username",
            sa.String(length=150).with_variant(sa.String(length=150, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "recipient_wallet_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True
        ),
        sa.Column(
            "expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True
        ),
        sa.Column(
            "completed_at",
            advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
            nullable=True,
        ),
        sa.Column("code_digest", sa.String(length=128), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "funding_source IN ('paysend', 'blf_atm', 'internal', 'manual')",
            name=op.f("ck_transfers_funding_source"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'rejected', 'cancelled', 'expired', 'failed')",
            name=op.f("ck_transfers_status"),
        ),
        sa.CheckConstraint(
            "type IN ('deposit', 'withdrawal', 'transfer')", name=op.f("ck_transfers_type")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transfers_amount_positive")),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_transfers_two_accounts")
        ),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_transfers_attempts_non_negative")),
        sa.ForeignKeyConstraint(
            ["credit_account_id"],
            ["accounts.id"],
            name=op.f("fk_transfers_credit_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account_id"],
            ["accounts.id"],
            name=op.f("fk_transfers_debit_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("reference", name=op.f("uq_transfers_reference")),
    )
    op.create_index("ix_transfers_amount_id", "transfers", ["amount", "id"], unique=False)
    op.create_index("ix_transfers_code_digest", "transfers", ["code_digest"], unique=False)
    op.create_index("ix_transfers_created_at_id", "transfers", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_transfers_credit_account",
        "transfers",
        ["credit_account_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_transfers_debit_account", "transfers", ["debit_account_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_transfers_pending_expiry",
        "transfers",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_transfers_recipient_created",
        "transfers",
        ["recipient_user_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_transfers_sender_created",
        "transfers",
        ["sender_user_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_transfers_source_provider_id",
        "transfers",
        ["funding_source", "provider_id"],
        unique=True,
    )
    op.create_table(
        "entries",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("transfer_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("account_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("total", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.CheckConstraint(
            "total IN ('debits_posted', 'credits_posted', 'debits_pending', 'credits_pending')",
            name=op.f("ck_entries_total"),
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_entries_delta_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_entries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_entries_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
    )
    op.create_index(op.f("ix_entries_account_id"), "entries", ["account_id"], unique=False)
    op.create_index(op.f("ix_entries_transfer_id"), "entries", ["transfer_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in ENTRIES_IMMUTABLE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS entries_immutable ON entries")
        op.execute("DROP FUNCTION IF EXISTS refuse_entry_change()")
    op.drop_index(op.f("ix_entries_transfer_id"), table_name="entries")
    op.drop_index(op.f("ix_entries_account_id"), table_name="entries")
    op.drop_table("entries")
    op.drop_index("uq_transfers_source_provider_id", table_name="transfers")
    op.drop_index("ix_transfers_sender_created", table_name="transfers")
    op.drop_index("ix_transfers_recipient_created", table_name="transfers")
    op.drop_index(
        "ix_transfers_pending_expiry",
        table_name="transfers",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_transfers_debit_account", table_name="transfers")
    op.drop_index("ix_transfers_credit_account", table_name="transfers")
    op.drop_index("ix_transfers_created_at_id", table_name="transfers")
    op.drop_index("ix_transfers_code_digest", table_name="transfers")
    op.drop_index("ix_transfers_amount_id", table_name="transfers")
    op.drop_table("transfers")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(
        "ix_outbox_events_unsent",
        table_name="outbox_events",
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("outbox_events")
    op.drop_index("uq_accounts_source_currency", table_name="accounts")
    op.drop_index("uq_accounts_owner_currency", table_name="accounts")
    op.drop_index("ix_accounts_created_at_id", table_name="accounts")
    op.drop_table("accounts")
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_index(op.f("ix_users_created_at"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
