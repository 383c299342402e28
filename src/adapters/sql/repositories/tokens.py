"""Refresh tokens in SQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    select,
    update,
)

from adapters.sql import mappers
from adapters.sql.repositories.base import _Repository, tokens_t
from wallet_core.sessions import RefreshToken


class SqlRefreshTokenRepository(_Repository):
    async def add(self, token: RefreshToken) -> None:
        await self._s.execute(tokens_t.insert().values(mappers.refresh_token_to_row(token)))

    async def lock_by_digest(self, token_digest: str) -> RefreshToken | None:
        stmt = select(tokens_t).where(tokens_t.c.token_digest == token_digest).with_for_update()
        row = (await self._s.execute(stmt)).first()
        return mappers.refresh_token_from_row(row) if row else None

    async def mark_rotated(self, token_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t).where(tokens_t.c.id == token_id).values(rotated_at=at)
        )

    async def revoke_family(self, family_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t)
            .where(tokens_t.c.family_id == family_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def revoke_all_of(self, user_id: UUID, at: datetime) -> None:
        await self._s.execute(
            update(tokens_t)
            .where(tokens_t.c.user_id == user_id, tokens_t.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
