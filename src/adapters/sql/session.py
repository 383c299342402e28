"""The unit of work's connection. On PostgreSQL, ledger writes (new and changed transfers,
account totals, entries, outbox events) wait in a buffer and reach the database as ONE statement
just before the next statement runs or the transaction commits: a money movement costs one round
trip for all its writes instead of four or five.

The order of effects is unchanged: anything that reads (or writes immediately) first sends the
buffer. SQLite executes every write at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, LargeBinary, String, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.records import AccountRecord, EntryRecord, OutboxRecord, TransferRecord
from wallet_core.errors import AlreadyExists

_TRANSFERS: Table = TransferRecord.__table__  # type: ignore[assignment]
_ACCOUNTS: Table = AccountRecord.__table__  # type: ignore[assignment]
_ENTRIES: Table = EntryRecord.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxRecord.__table__  # type: ignore[assignment]

UNIQUE_VIOLATION = "23505"
TRANSFER_CHANGES = ("status", "updated_at", "completed_at", "failed_attempts")
ACCOUNT_CHANGES = (
    "transfer_count",
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "is_active",
    "updated_at",
)


def _pg_type(column: Column[Any]) -> tuple[str, str]:
    """(array element type for the parameter, cast applied to the unnested value)."""
    kind = column.type
    if isinstance(kind, GUID):
        return "uuid", ""
    if isinstance(kind, DateTimeUTC):
        return "timestamptz", ""
    if isinstance(kind, BigInteger):
        return "bigint", ""
    if isinstance(kind, Integer):
        return "integer", ""
    if isinstance(kind, Boolean):
        return "boolean", ""
    if isinstance(kind, LargeBinary):
        return "bytea", ""
    if isinstance(kind, JSON):
        return "text", "::jsonb"
    if isinstance(kind, String):
        return "text", ""
    raise TypeError(f"no array type for column {column}")


def _value(column: Column[Any], value: Any) -> Any:
    if isinstance(column.type, JSON) and value is not None:
        return json.dumps(value, separators=(",", ":"))
    return value


@dataclass
class _Part:
    sql: str
    args: list[Any]


@dataclass
class LedgerWrites:
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    transfer_changes: dict[Any, dict[str, Any]] = field(default_factory=dict)
    account_changes: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.transfer_changes or self.account_changes)

    def statement(self) -> tuple[str, list[Any]]:
        """One ``WITH ... SELECT 1`` statement carrying every buffered write as arrays."""
        parts: list[tuple[str, str]] = []
        args: list[Any] = []

        def arrays(table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
            columns = [table.c[name] for name in names]
            params = []
            for column in columns:
                element, _ = _pg_type(column)
                args.append([_value(column, row[column.name]) for row in rows])
                params.append(f"${len(args)}::{element}[]")
            return f"unnest({', '.join(params)}) AS v({', '.join(names)})"

        new_transfers = self.inserts.get(_TRANSFERS.name, [])
        for row in new_transfers:  # a change to a transfer made in this same unit of work
            row.update(self.transfer_changes.pop(row["id"], {}))
        for table in (_TRANSFERS, _ENTRIES, _OUTBOX):
            rows = self.inserts.get(table.name)
            if not rows:
                continue
            names = [c.name for c in table.columns]
            source = arrays(table, names, rows)
            selected = ", ".join(f"v.{c.name}{_pg_type(c)[1]}" for c in table.columns)
            # Names come from our own table definitions; every value travels as a parameter.
            insert = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {selected}"
            parts.append((f"insert_{table.name}", f"{insert} FROM {source}"))
        for table, changes, names in (
            (_TRANSFERS, self.transfer_changes, TRANSFER_CHANGES),
            (_ACCOUNTS, self.account_changes, ACCOUNT_CHANGES),
        ):
            if not changes:
                continue
            rows = [{"id": key, **values} for key, values in changes.items()]
            source = arrays(table, ["id", *names], rows)
            assignments = ", ".join(f"{name} = v.{name}" for name in names)
            change = f"UPDATE {table.name} SET {assignments}"  # noqa: S608 - see above
            parts.append(
                (f"update_{table.name}", f"{change} FROM {source} WHERE {table.name}.id = v.id")
            )
        ctes = ",\n".join(f"{name} AS ({sql})" for name, sql in parts)
        return f"WITH {ctes}\nSELECT 1", args


class Session:
    """What repositories execute through: the connection, plus the write buffer."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.batching = self.dialect == "postgresql"
        self._writes = LedgerWrites()

    async def execute(self, statement: Any, params: Any = None) -> Any:
        if self._writes:
            await self.flush()
        return await self.conn.execute(statement, params)

    async def insert(self, table: Table, statement: Any, rows: list[dict[str, Any]]) -> None:
        if not self.batching:
            await self.conn.execute(statement, rows)
            return
        self._writes.inserts.setdefault(table.name, []).extend(rows)

    async def change(self, table: Table, statement: Any, rows: list[dict[str, Any]]) -> None:
        """Changes keyed by ``b_id``; ``statement`` applies them when not batching."""
        if not self.batching:
            await self.conn.execute(statement, rows)
            return
        writes = self._writes
        target = writes.account_changes if table is _ACCOUNTS else writes.transfer_changes
        for row in rows:
            values = {k.removeprefix("b_"): v for k, v in row.items() if k != "b_id"}
            target.setdefault(row["b_id"], {}).update(values)

    async def flush(self) -> None:
        if not self._writes:
            return
        sql, args = self._writes.statement()
        self._writes = LedgerWrites()
        raw = await self.conn.get_raw_connection()
        try:
            await raw.driver_connection.execute(sql, *args)  # type: ignore[union-attr]
        except Exception as exc:
            # The driver's own error (the storage retries or maps it by its SQLSTATE).
            if getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION:
                raise AlreadyExists("This transaction already exists.") from exc
            raise
