"""What repositories execute through: one connection (one transaction), and its dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


class Session:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return await self.conn.execute(statement, params)
