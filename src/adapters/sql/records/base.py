"""The declarative base, the naming convention, column types shared by the records, and the
closed sets the CHECK constraints use."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    JSON,
    Date,
    MetaData,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

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


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def only_where(condition: str) -> dict[str, Any]:
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


ACCOUNT_KINDS = ("wallet", "system")
FUNDING_SOURCES = ("paysend", "blf_atm", "internal", "manual")
TRANSACTION_TYPES = ("deposit", "withdrawal", "transfer", "reversal")
TRANSACTION_STATUSES = ("pending", "completed", "rejected", "cancelled", "expired", "failed")
ENTRY_COLUMNS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
POSTED_TOTALS = ("debits_posted", "credits_posted")
