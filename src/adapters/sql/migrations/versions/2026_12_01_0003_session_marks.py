"""Session marks: a per-user session generation, so ending a user's sessions refuses their
access tokens everywhere.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import advanced_alchemy.types.datetime
import advanced_alchemy.types.guid
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_marks",
        sa.Column("user_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column(
            "changed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False
        ),
        sa.CheckConstraint("generation > 0", name=op.f("ck_session_marks_generation_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_session_marks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_session_marks")),
    )
    op.create_index(
        op.f("ix_session_marks_changed_at"), "session_marks", ["changed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_marks_changed_at"), table_name="session_marks")
    op.drop_table("session_marks")
