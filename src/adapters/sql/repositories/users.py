"""Users in SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from adapters.sql import mappers
from adapters.sql.ordering import like_pattern, order_by, seek
from adapters.sql.repositories.base import _constraint_field, _paged, _Repository, users_t
from wallet_core.errors import AlreadyExists
from wallet_core.queries import (
    UserQuery,
)
from wallet_core.users import User

# Statements built once: executing a prebuilt statement with parameters skips SQLAlchemy's
# per-call construction and cache-key work on the hot path (see docs/performance.md).
_USER_INSERT = users_t.insert()

_USER_BY_ID = select(users_t).where(users_t.c.id == bindparam("id"))

_USER_LOCK = _USER_BY_ID.with_for_update()

_USER_BY_LOGIN = (
    select(users_t)
    .where(
        or_(
            users_t.c.email == bindparam("login"),
            func.lower(users_t.c.username) == bindparam("login"),
        )
    )
    .limit(1)
)

_USER_BY_PHONE = select(users_t).where(users_t.c.phone_number == bindparam("phone"))

_USER_BY_USERNAME = select(users_t).where(
    func.lower(users_t.c.username) == func.lower(bindparam("username"))
)


class SqlUserRepository(_Repository):
    async def add(self, user: User) -> None:
        try:
            await self._s.execute(_USER_INSERT, mappers.user_to_row(user))
        except IntegrityError as exc:
            field = _constraint_field(exc)
            raise AlreadyExists(f"A user with this {field} already exists.") from exc

    async def update(self, user: User) -> None:
        row = mappers.user_to_row(user)
        await self._s.execute(users_t.update().where(users_t.c.id == user.id).values(row))

    async def _one(self, stmt: Select[Any], params: dict[str, Any]) -> User | None:
        row = (await self._s.execute(stmt, params)).first()
        return mappers.user_from_row(row) if row else None

    async def get(self, user_id: UUID) -> User | None:
        return await self._one(_USER_BY_ID, {"id": user_id})

    async def lock(self, user_id: UUID) -> User | None:
        return await self._one(_USER_LOCK, {"id": user_id})

    async def find_by_login(self, login: str) -> User | None:
        return await self._one(_USER_BY_LOGIN, {"login": login.lower()})

    async def find_by_phone(self, phone_number: str) -> User | None:
        return await self._one(_USER_BY_PHONE, {"phone": phone_number})

    async def find_by_username(self, username: str) -> User | None:
        return await self._one(_USER_BY_USERNAME, {"username": username})

    def _where(self, query: UserQuery) -> list[ColumnElement[bool]]:
        f = query.filter
        where: list[ColumnElement[bool]] = []
        for column, value in (
            (users_t.c.email, f.email),
            (users_t.c.first_name, f.first_name),
            (users_t.c.last_name, f.last_name),
        ):
            if value:
                where.append(func.lower(column).like(like_pattern(value), escape="\\"))
        if f.is_staff is not None:
            where.append(users_t.c.is_staff == f.is_staff)
        if f.is_active is not None:
            where.append(users_t.c.is_active == f.is_active)
        return where

    _SORT: Mapping[str, ColumnElement[Any]] = {
        "created_at": users_t.c.created_at,
        "username": users_t.c.username,
        "email": users_t.c.email,
    }

    async def search(self, query: UserQuery) -> list[User]:
        stmt = select(users_t).where(*self._where(query))
        if query.page.cursor is not None:
            stmt = stmt.where(seek(self._SORT, users_t.c.id, query.ordering, query.page.cursor))
        stmt = stmt.order_by(*order_by(self._SORT, users_t.c.id, query.ordering))
        rows = await self._s.execute(_paged(stmt, query.page))
        return [mappers.user_from_row(r) for r in rows]

    async def count(self, query: UserQuery) -> int:
        stmt = select(func.count()).select_from(users_t).where(*self._where(query))
        return int((await self._s.execute(stmt)).scalar_one())
