"""Statements: running balances on entries; transaction metadata; reversals.

Entries get ``posted_at`` (the name statements use for a line's time; it was ``created_at``) and
``balance_after``: on every posted line, the account's posted balance right after it. Existing
lines are backfilled with a running sum per account in posting order (id breaks ties), with the
immutability trigger paused for the backfill only. An index on an account's posted lines by time
makes "the balance at an instant" one index lookup.

Transactions get ``metadata`` (the client's key/value strings, ``{}`` for existing rows), with a
GIN index on PostgreSQL for ``metadata[key]=value`` filters.

Reversals: a ``reversal`` transaction type whose ``reverses`` names the original, and on every
transaction ``reversed_amount`` (0 for existing rows), kept within ``[0, amount]`` by a check.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import advanced_alchemy.types.guid
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

GUID = advanced_alchemy.types.guid.GUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

POSTED = "total IN ('debits_posted', 'credits_posted')"
OLD_TYPES = "type IN ('deposit', 'withdrawal', 'transfer')"
NEW_TYPES = "type IN ('deposit', 'withdrawal', 'transfer', 'reversal')"
SIGNED = "CASE total WHEN 'credits_posted' THEN delta ELSE -delta END"

BACKFILL_POSTGRES = f"""
UPDATE entries e SET balance_after = r.running
FROM (
    SELECT id, sum({SIGNED}) OVER (PARTITION BY account_id ORDER BY posted_at, id) AS running
    FROM entries WHERE {POSTED}
) r
WHERE e.id = r.id
"""  # noqa: S608 - constant text

BACKFILL_SQLITE = f"""
UPDATE entries SET balance_after = (
    SELECT sum(CASE p.total WHEN 'credits_posted' THEN p.delta ELSE -p.delta END)
    FROM entries p
    WHERE p.account_id = entries.account_id
        AND p.total IN ('debits_posted', 'credits_posted')
        AND (p.posted_at < entries.posted_at
            OR (p.posted_at = entries.posted_at AND p.id <= entries.id))
)
WHERE {POSTED}
"""  # noqa: S608 - constant text


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("entries") as batch:
        batch.alter_column("created_at", new_column_name="posted_at")
        batch.add_column(sa.Column("balance_after", sa.BigInteger(), nullable=True))
    if postgres:
        op.execute("ALTER TABLE entries DISABLE TRIGGER entries_immutable")
        op.execute(BACKFILL_POSTGRES)
        op.execute("ALTER TABLE entries ENABLE TRIGGER entries_immutable")
    else:
        op.execute(BACKFILL_SQLITE)
    with op.batch_alter_table("entries") as batch:
        batch.create_check_constraint(
            op.f("ck_entries_balance_after_when_posted"),
            f"({POSTED}) = (balance_after IS NOT NULL)",
        )
    op.create_index(
        "ix_entries_account_posted",
        "entries",
        ["account_id", "posted_at"],
        unique=False,
        postgresql_include=["balance_after"],
        postgresql_where=sa.text("balance_after IS NOT NULL"),
        sqlite_where=sa.text("balance_after IS NOT NULL"),
    )
    payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(
            sa.Column("metadata", payload, nullable=False, server_default=sa.text("'{}'"))
        )
    if postgres:
        op.create_index("ix_transfers_metadata", "transfers", ["metadata"], postgresql_using="gin")
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("reverses", GUID(length=16), nullable=True))
        batch.add_column(
            sa.Column(
                "reversed_amount", sa.BigInteger(), nullable=False, server_default=sa.text("0")
            )
        )
        batch.create_foreign_key(
            op.f("fk_transfers_reverses_transfers"), "transfers", ["reverses"], ["id"]
        )
        batch.drop_constraint(op.f("ck_transfers_type"), type_="check")
        batch.create_check_constraint(op.f("ck_transfers_type"), NEW_TYPES)
        batch.create_check_constraint(
            op.f("ck_transfers_reversed_within_amount"),
            "reversed_amount >= 0 AND reversed_amount <= amount",
        )
        batch.create_check_constraint(
            op.f("ck_transfers_reversal_reverses"), "(type = 'reversal') = (reverses IS NOT NULL)"
        )
    op.create_index(op.f("ix_transfers_reverses"), "transfers", ["reverses"], unique=False)


def downgrade() -> None:
    # Reversals moved money: dropping them would leave accounts that their entries no longer
    # explain. Refuse rather than lose them.
    reversals = op.get_bind().execute(
        sa.text("SELECT count(*) FROM transfers WHERE type = 'reversal'")
    )
    if reversals.scalar_one():
        raise RuntimeError("cannot downgrade below 0005 while reversals exist")
    op.drop_index(op.f("ix_transfers_reverses"), table_name="transfers")
    with op.batch_alter_table("transfers") as batch:
        batch.drop_constraint(op.f("ck_transfers_reversal_reverses"), type_="check")
        batch.drop_constraint(op.f("ck_transfers_reversed_within_amount"), type_="check")
        batch.drop_constraint(op.f("ck_transfers_type"), type_="check")
        batch.create_check_constraint(op.f("ck_transfers_type"), OLD_TYPES)
        batch.drop_constraint(op.f("fk_transfers_reverses_transfers"), type_="foreignkey")
        batch.drop_column("reversed_amount")
        batch.drop_column("reverses")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_transfers_metadata", table_name="transfers", postgresql_using="gin")
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("metadata")
    op.drop_index(
        "ix_entries_account_posted",
        table_name="entries",
        postgresql_where=sa.text("balance_after IS NOT NULL"),
        sqlite_where=sa.text("balance_after IS NOT NULL"),
    )
    with op.batch_alter_table("entries") as batch:
        batch.drop_constraint(op.f("ck_entries_balance_after_when_posted"), type_="check")
        batch.drop_column("balance_after")
        batch.alter_column("posted_at", new_column_name="created_at")
