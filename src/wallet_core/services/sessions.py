"""Ending a user's sessions, and checking a token's session on every request.

The hot path (``check``, then ``confirm``) reads only this process's :class:`SessionMarks` while
they are fresh; ``confirm`` reads the user's mark from the database only when they are not (no
feed and no successful poll within the last second), so a broken feed never lets a revoked token
through. See ``wallet_core.sessions`` for the model.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from wallet_core.errors import TokenRevoked
from wallet_core.ports import SessionFeed, UnitOfWork
from wallet_core.services.context import Actor, Context
from wallet_core.sessions import SessionMark, SessionMarks

#: A poll re-reads marks changed this long before the previous poll started: a transaction that
#: committed late, or a writer whose clock runs a little behind, is still seen.
POLL_OVERLAP = timedelta(seconds=10)


async def end_sessions(uow: UnitOfWork, user_id: UUID, at: datetime) -> SessionMark:
    """Inside the unit of work that makes the change: every access token issued so far becomes
    stale and every refresh-token family is revoked. Announce the mark after the commit."""
    await uow.refresh_tokens.revoke_all_of(user_id, at)
    return await uow.session_marks.advance(user_id, at)


async def generation_of(uow: UnitOfWork, user_id: UUID) -> int:
    mark = await uow.session_marks.get(user_id)
    return 0 if mark is None else mark.generation


class SessionService:
    def __init__(self, ctx: Context, marks: SessionMarks, feed: SessionFeed) -> None:
        self._ctx = ctx
        self._marks = marks
        self._feed = feed
        self._poll_from: datetime | None = None

    @property
    def marks(self) -> SessionMarks:
        return self._marks

    def check(self, user_id: UUID, session_generation: int) -> None:
        """Refuse a token this process knows to be stale (no I/O)."""
        if self._marks.is_revoked(user_id, session_generation):
            raise TokenRevoked("This session has ended; sign in again.")

    async def confirm(self, actor: Actor) -> None:
        """Refuse a stale token even when this process's marks may be behind: then (only then)
        the user's mark is read from the database."""
        if self._marks.is_fresh(self._ctx.clock.now()):
            return

        async def read(uow: UnitOfWork) -> SessionMark | None:
            return await uow.session_marks.get(actor.user_id)

        mark = await self._ctx.storage.run_read(read)
        if mark is not None:
            self._marks.learn([mark])
        self.check(actor.user_id, actor.session_generation)

    async def announce(self, mark: SessionMark) -> None:
        """After the commit: this process knows at once, the others through the feed."""
        self._marks.learn([mark])
        await self._feed.publish(mark)

    async def sync(self) -> int:
        """Learn every mark changed since the previous poll (the first one reads one retention
        back). Returns how many marks the poll read."""
        started = self._ctx.clock.now()
        since = self._poll_from or started - self._ctx.policy.session_retention

        async def read(uow: UnitOfWork) -> list[SessionMark]:
            return await uow.session_marks.changed_since(since)

        marks = await self._ctx.storage.run_read(read)
        self._marks.learn(marks)
        self._marks.confirm(started)
        self._marks.prune(started)
        self._poll_from = started - POLL_OVERLAP
        return len(marks)
