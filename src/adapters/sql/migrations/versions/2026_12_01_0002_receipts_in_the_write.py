"""Idempotency receipts written with the change they describe; the money write's guard.

An idempotency key is no longer claimed in a transaction of its own and completed later: its
receipt (the first request's sealed outcome) is written by the same statement that moves the
money, so nothing is ever left "in flight" by a request that failed. The columns of the old
two-step claim go (state, claim_id, locked_until); status and body become one opaque ``receipt``.
Rows in flight are dropped (their requests failed or are being retried); completed ones are kept
in the legacy receipt format (a zero byte, the status as two bytes, the body), which the HTTP layer
still reads, so a retry across the upgrade still replays instead of moving money twice.

``wallet_refuse()`` raises SQLSTATE WLT01: the single statement of a money write calls it when a
guard fails, which aborts the statement and everything it wrote, idempotency receipt included.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import advanced_alchemy.types.datetime
import advanced_alchemy.types.guid
import sqlalchemy as sa
from alembic import op

GUID = advanced_alchemy.types.guid.GUID
UTC = advanced_alchemy.types.datetime.DateTimeUTC

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

REFUSE = """
CREATE FUNCTION wallet_refuse() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'a guard of the money write failed' USING ERRCODE = 'WLT01';
END;
$$
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DELETE FROM idempotency_keys WHERE state <> 'completed'")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("receipt", sa.LargeBinary(), nullable=True))
    if postgres:
        op.execute(
            "UPDATE idempotency_keys SET receipt = '\\x00'::bytea"
            " || int2send(response_status::smallint) || coalesce(response_body, ''::bytea)"
        )
    else:
        op.execute(
            "UPDATE idempotency_keys SET receipt = X'00'"
            " || CAST(char(response_status / 256) || char(response_status % 256) AS BLOB)"
            " || coalesce(response_body, X'')"
        )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("receipt", nullable=False)
        batch.drop_constraint(op.f("ck_idempotency_keys_state"), type_="check")
        for column in ("state", "claim_id", "locked_until", "response_status", "response_body"):
            batch.drop_column(column)
    if postgres:
        op.execute(REFUSE)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS wallet_refuse()")
    # Receipts sealed by the new code cannot be turned back into (status, body): they go.
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("claim_id", GUID(length=16), nullable=False))
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=False))
        batch.add_column(sa.Column("response_status", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("response_body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("locked_until", UTC(timezone=True), nullable=False))
        batch.create_check_constraint(
            op.f("ck_idempotency_keys_state"), "state IN ('in_flight', 'completed')"
        )
        batch.drop_column("receipt")
