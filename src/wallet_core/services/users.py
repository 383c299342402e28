"""Staff administration of users: read anyone's account, (de)activate it, grant or take the staff
role. Deactivating a user or taking their staff role ends every session of theirs at once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from wallet_core.errors import NotFound, PermissionDenied
from wallet_core.ports import UnitOfWork
from wallet_core.services.context import Actor, Context
from wallet_core.services.sessions import SessionService, end_sessions
from wallet_core.sessions import SessionMark
from wallet_core.users import User


@dataclass(frozen=True, slots=True)
class AccessChanges:
    """``None``: not given, left as it is."""

    is_active: bool | None = None
    is_staff: bool | None = None


def _require_staff(actor: Actor) -> None:
    # To anyone else these are users that do not exist: no hint of which ids are taken.
    if not actor.is_staff:
        raise NotFound("No such user.")


def _ends_sessions(before: User, after: User) -> bool:
    return (before.is_active and not after.is_active) or (before.is_staff and not after.is_staff)


class UserService:
    def __init__(self, ctx: Context, sessions: SessionService) -> None:
        self._ctx = ctx
        self._sessions = sessions

    async def get(self, actor: Actor, user_id: UUID) -> User:
        _require_staff(actor)

        async def work(uow: UnitOfWork) -> User | None:
            return await uow.users.get(user_id)

        user = await self._ctx.storage.run_read(work)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def update_access(self, actor: Actor, user_id: UUID, changes: AccessChanges) -> User:
        _require_staff(actor)
        if user_id == actor.user_id and False in (changes.is_active, changes.is_staff):
            raise PermissionDenied(
                "You cannot deactivate yourself or give up your own staff role; "
                "ask another staff member."
            )
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> tuple[User, SessionMark | None]:
            user = await uow.users.lock(user_id)
            if user is None:
                raise NotFound("No such user.")
            updated = replace(
                user,
                is_active=user.is_active if changes.is_active is None else changes.is_active,
                is_staff=user.is_staff if changes.is_staff is None else changes.is_staff,
            )
            if updated == user:
                return user, None
            updated = replace(updated, updated_at=now)
            await uow.users.update(updated)
            mark = await end_sessions(uow, user.id, now) if _ends_sessions(user, updated) else None
            return updated, mark

        updated, mark = await self._ctx.storage.run(work)
        if mark is not None:
            await self._sessions.announce(mark)
        return updated
