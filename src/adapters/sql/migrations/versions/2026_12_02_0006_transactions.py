"""One name per concept: the table ``transfers`` becomes ``transactions``, as the API says.

The API has always called a movement of money a *transaction* (a ``transfer`` is one type of
it); the schema now says the same: ``transfers`` -> ``transactions``,
``entries.transfer_id`` -> ``entries.transaction_id``, ``accounts.transfer_count`` ->
``accounts.transaction_count``, and every index and constraint named after them follows.
Notifications still waiting in the outbox get the new payload key too. Renames only: no row
is rewritten apart from those outbox payloads, and the immutable entries are not touched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Rename every index and constraint of the three tables whose name holds the old word
# (``ix_transfers_*``, ``ck_accounts_transfer_count_*``, ``fk_entries_transfer_id_transfers``...).
RENAME_NAMES_POSTGRES = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.conname AS name, c.conrelid::regclass::text AS tab FROM pg_constraint c
        WHERE c.conrelid = ANY (ARRAY['{table}', 'entries', 'accounts']::regclass[])
            AND c.conname ~ '{old}'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', r.tab, r.name,
            regexp_replace(r.name, '{old}', '{new}', 'g'));
    END LOOP;
    FOR r IN
        SELECT i.indexname AS name FROM pg_indexes i
        WHERE i.schemaname = current_schema()
            AND i.tablename IN ('{table}', 'entries', 'accounts')
            AND i.indexname ~ '{old}'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name,
            regexp_replace(r.name, '{old}', '{new}', 'g'));
    END LOOP;
END $$
"""

OUTBOX_KEY_POSTGRES = """
UPDATE outbox_events SET payload = (payload::jsonb - '{old}')
    || jsonb_build_object('{new}', payload::jsonb -> '{old}')
WHERE payload::jsonb ? '{old}'
"""

OUTBOX_KEY_SQLITE = """
UPDATE outbox_events SET payload = json_set(json_remove(payload, '$.{old}'), '$.{new}',
    json_extract(payload, '$.{old}'))
WHERE json_type(payload, '$.{old}') IS NOT NULL
"""


def _sqlite_indexes(old: str, new: str) -> None:
    """SQLite cannot rename an index: recreate each one under its new name (its SQL already
    names the renamed table and columns)."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('transactions', 'transfers', 'entries', 'accounts')"
        )
    ).all()
    for name, sql in rows:
        if old in name:
            op.execute(f'DROP INDEX "{name}"')
            op.execute(sql.replace(name, name.replace(old, new), 1))


def _rename(
    table: tuple[str, str], entry: tuple[str, str], count: tuple[str, str], word: tuple[str, str]
) -> None:
    op.rename_table(*table)
    for name, (before, after) in (("entries", entry), ("accounts", count)):
        op.execute(f"ALTER TABLE {name} RENAME COLUMN {before} TO {after}")
    old, new = word
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RENAME_NAMES_POSTGRES.format(table=table[1], old=old, new=new))
        op.execute(OUTBOX_KEY_POSTGRES.format(old=entry[0], new=entry[1]))
    else:
        _sqlite_indexes(old, new)
        op.execute(OUTBOX_KEY_SQLITE.format(old=entry[0], new=entry[1]))


def upgrade() -> None:
    _rename(
        ("transfers", "transactions"),
        ("transfer_id", "transaction_id"),
        ("transfer_count", "transaction_count"),
        ("transfer", "transaction"),
    )


def downgrade() -> None:
    _rename(
        ("transactions", "transfers"),
        ("transaction_id", "transfer_id"),
        ("transaction_count", "transfer_count"),
        ("transaction", "transfer"),
    )
