"""Fewer index entries per money movement: indexes on columns most transactions leave empty
only index the rows that have them.

Every transaction row used to get an entry in every index of ``transactions``, even where the
indexed value is NULL or empty: the Paysend id (deposits only), the cash-out code digest
(withdrawals only), the original of a reversal (reversals only) and the metadata (only where
the client sent some). A transfer paid for all four on its insert and again on its accept (which
changes ``status``, so it is not a HOT update). They become partial indexes over the rows that
have a value; every query that uses them already implies the condition (an equality on the
column), and the metadata filter states it (``metadata <> '{}'``). The Paysend uniqueness is the
same: NULLs never conflicted.

``ix_entries_account_id`` goes: every query of an account's lines reads posted lines, which
``ix_entries_account_posted`` already holds in order; six index entries fewer per pair.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "transactions"
#: (index, columns, unique, the rows it keeps)
PARTIAL = (
    (
        "uq_transactions_source_provider_id",
        ["funding_source", "provider_id"],
        True,
        "provider_id IS NOT NULL",
    ),
    ("ix_transactions_code_digest", ["code_digest"], False, "code_digest IS NOT NULL"),
    ("ix_transactions_reverses", ["reverses"], False, "reverses IS NOT NULL"),
)
METADATA = "ix_transactions_metadata"
ENTRY_ACCOUNT = "ix_entries_account_id"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index(ENTRY_ACCOUNT, table_name="entries")
    for name, columns, unique, where in PARTIAL:
        op.drop_index(name, table_name=TABLE)
        op.create_index(
            name,
            TABLE,
            columns,
            unique=unique,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    if _postgres():
        op.drop_index(METADATA, table_name=TABLE, postgresql_using="gin")
        op.create_index(
            METADATA,
            TABLE,
            ["metadata"],
            postgresql_using="gin",
            postgresql_where=sa.text("metadata <> '{}'::jsonb"),
        )


def downgrade() -> None:
    op.create_index(ENTRY_ACCOUNT, "entries", ["account_id"])
    for name, columns, unique, _ in PARTIAL:
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns, unique=unique)
    if _postgres():
        op.drop_index(METADATA, table_name=TABLE, postgresql_using="gin")
        op.create_index(METADATA, TABLE, ["metadata"], postgresql_using="gin")
