"""What the SQL repositories share: the tables, a dialect-aware insert, paging, and
which unique field a constraint violation was about."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from adapters.sql.records import (
    AccountRecord,
    IdempotencyKeyRecord,
    OutboxRecord,
    RefreshTokenRecord,
    TransactionRecord,
    UserRecord,
    table_of,
)
from adapters.sql.session import Session
from wallet_core.queries import (
    PageRequest,
)

users_t = table_of(UserRecord)

accounts_t = table_of(AccountRecord)

transactions_t = table_of(TransactionRecord)

tokens_t = table_of(RefreshTokenRecord)

idem_t = table_of(IdempotencyKeyRecord)

outbox_t = table_of(OutboxRecord)


class _Repository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @property
    def _dialect(self) -> str:
        return self._s.dialect

    def _insert(self, table: Any) -> Any:
        """A dialect insert, so ``on_conflict_do_nothing`` is available on both databases."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def _paged(stmt: Select[Any], page: PageRequest) -> Select[Any]:
    """One row more than the page holds tells whether another page follows."""
    stmt = stmt.limit(page.page_size + 1)
    return stmt.offset(page.offset) if page.offset else stmt


def _constraint_field(error: IntegrityError) -> str:
    text = str(error.orig).lower()
    for needle, name in (
        ("email", "email"),
        ("username", "username"),
        ("phone", "phone number"),
        ("owner", "currency"),
    ):
        if needle in text:
            return name
    return "value"
