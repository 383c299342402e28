"""``SqlSessionMarkRepository``: advancing a user's session generation is one atomic upsert, so
concurrent changes never lose an advance."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.records import SessionMarkRecord, table_of
from adapters.sql.session import Session
from wallet_core.sessions import SessionMark

marks_t = table_of(SessionMarkRecord)

_BY_USER = select(marks_t).where(marks_t.c.user_id == bindparam("user_id"))
_CHANGED_SINCE = select(marks_t).where(marks_t.c.changed_at >= bindparam("since"))


def _advance(dialect: Any) -> Any:
    insert = dialect.insert(marks_t).values(
        user_id=bindparam("user_id"), generation=1, changed_at=bindparam("at")
    )
    return insert.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"generation": marks_t.c.generation + 1, "changed_at": insert.excluded.changed_at},
    ).returning(*marks_t.c)


_ADVANCE = {"postgresql": _advance(postgresql), "sqlite": _advance(sqlite)}


def _mark(row: Any) -> SessionMark:
    return SessionMark(user_id=row.user_id, generation=row.generation, changed_at=row.changed_at)


class SqlSessionMarkRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def advance(self, user_id: UUID, at: datetime) -> SessionMark:
        result = await self._s.execute(_ADVANCE[self._s.dialect], {"user_id": user_id, "at": at})
        return _mark(result.one())

    async def get(self, user_id: UUID) -> SessionMark | None:
        row = (await self._s.execute(_BY_USER, {"user_id": user_id})).first()
        return None if row is None else _mark(row)

    async def changed_since(self, since: datetime) -> list[SessionMark]:
        return [_mark(row) for row in await self._s.execute(_CHANGED_SINCE, {"since": since})]
