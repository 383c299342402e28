"""Registration, login, token rotation with reuse detection, logout, profiles and user lists."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from wallet_core.errors import (
    FieldError,
    InvalidCredentials,
    NotAuthenticated,
    TokenRevoked,
    ValidationFailed,
)
from wallet_core.ledger import Account, AccountKind
from wallet_core.ports import PasswordHasher, TokenIssuer, UnitOfWork
from wallet_core.queries import Page, UserQuery, paginate, sort_key_for, user_sort_value
from wallet_core.services.context import Actor, Context
from wallet_core.services.sessions import SessionService, end_sessions, generation_of
from wallet_core.sessions import RefreshToken, SessionMark
from wallet_core.users import (
    User,
    check_password,
    normalize_email,
    normalize_phone,
    normalize_username,
)


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    username: str
    password: str
    phone_number: str
    first_name: str = ""
    last_name: str = ""
    date_of_birth: date | None = None
    currency: str | None = None
    is_staff: bool = False


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Only the fields given change; ``None`` means "not given" except for ``date_of_birth``,
    where ``clear_date_of_birth`` says an explicit null."""

    first_name: str | None = None
    last_name: str | None = None
    date_of_birth: date | None = None
    clear_date_of_birth: bool = False
    password: str | None = None
    current_password: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(
        self,
        ctx: Context,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        sessions: SessionService,
    ) -> None:
        self._ctx = ctx
        self._hasher = hasher
        self._tokens = tokens
        self._sessions = sessions

    # Identity -----------------------------------------------------------------------------------

    def authenticate(self, access_token: str) -> Actor:
        """A valid access token whose session this process does not know to have ended (no I/O;
        follow with ``confirm``, which checks the database when the in-process marks may lag)."""
        claims = self._tokens.verify_access(access_token, self._ctx.clock.now())
        self._sessions.check(claims.user_id, claims.session_generation)
        return Actor(
            claims.user_id,
            claims.is_staff,
            claims.email,
            claims.session_generation,
            claims.expires_at,
        )

    async def confirm(self, actor: Actor) -> None:
        """Raise ``TokenRevoked`` if the actor's session has ended, in any process."""
        await self._sessions.confirm(actor)

    async def register(self, form: Registration) -> tuple[User, Account]:
        email = normalize_email(form.email)
        username = normalize_username(form.username)
        phone = normalize_phone(form.phone_number)
        check_password(form.password, email=email, username=username)
        currency = self._ctx.currencies.get(form.currency or self._ctx.policy.default_currency)
        now = self._ctx.clock.now()
        if form.date_of_birth is not None and form.date_of_birth > now.date():
            raise ValidationFailed(
                "The date of birth cannot be in the future.",
                [FieldError("date_of_birth", "in the future")],
            )
        password_hash = await self._hasher.hash(form.password)
        user = User(
            id=self._ctx.ids.new_id(),
            email=email,
            username=username,
            phone_number=phone,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
            first_name=form.first_name.strip(),
            last_name=form.last_name.strip(),
            date_of_birth=form.date_of_birth,
            is_staff=form.is_staff,
        )
        wallet = Account(
            id=self._ctx.ids.new_id(),
            kind=AccountKind.WALLET,
            currency=currency.code,
            created_at=now,
            updated_at=now,
            owner_id=user.id,
            owner_username=user.username,
        )

        async def work(uow: UnitOfWork) -> None:
            await uow.users.add(user)
            await uow.accounts.add(wallet)

        await self._ctx.storage.run(work)
        return user, wallet

    async def login(self, login: str, password: str) -> TokenPair:
        """Same answer, in about the same time, for an unknown user and a wrong password."""
        lookup = login.strip().lower()

        async def find(uow: UnitOfWork) -> tuple[User, int] | None:
            user = await uow.users.find_by_login(lookup)
            return None if user is None else (user, await generation_of(uow, user.id))

        found = await self._ctx.storage.run_read(find) if lookup else None
        if found is None:
            await self._hasher.burn(password)
            raise InvalidCredentials()
        # The generation was read with the password hash it goes with: if the password changes
        # while this login verifies the old one, the token it gets is already stale.
        user, generation = found
        if not await self._hasher.verify(user.password_hash, password) or not user.is_active:
            raise InvalidCredentials()
        return await self._issue(user, family_id=None, generation=generation)

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> tuple[User | None, RefreshToken | None, bool, int]:
            token = await uow.refresh_tokens.lock_by_digest(_digest(refresh_token))
            if token is None:
                return None, None, False, 0
            if token.revoked_at is not None:
                return None, token, False, 0
            if token.rotated_at is not None:
                # A rotated token came back: it was stolen or replayed. Kill the whole family.
                await uow.refresh_tokens.revoke_family(token.family_id, now)
                return None, token, True, 0
            if token.expires_at <= now:
                return None, token, False, 0
            user = await uow.users.get(token.user_id)
            if user is None or not user.is_active:
                await uow.refresh_tokens.revoke_family(token.family_id, now)
                return None, token, False, 0
            await uow.refresh_tokens.mark_rotated(token.id, now)
            return user, token, False, await generation_of(uow, user.id)

        user, token, reused, generation = await self._ctx.storage.run(work)
        if token is None:
            raise NotAuthenticated("The refresh token is not valid.")
        if reused or token.revoked_at is not None:
            raise TokenRevoked("This refresh token was revoked.")
        if user is None:
            raise NotAuthenticated("The refresh token has expired.")
        return await self._issue(user, family_id=token.family_id, generation=generation)

    async def logout(self, actor: Actor, refresh_token: str) -> None:
        """Revoke the token's family. Unknown tokens, or other users' tokens, change nothing."""
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> None:
            token = await uow.refresh_tokens.lock_by_digest(_digest(refresh_token))
            if token is not None and token.user_id == actor.user_id:
                await uow.refresh_tokens.revoke_family(token.family_id, now)

        await self._ctx.storage.run(work)

    async def _issue(self, user: User, family_id: UUID | None, generation: int) -> TokenPair:
        now = self._ctx.clock.now()
        secret = "rt_" + secrets.token_urlsafe(32)
        token = RefreshToken(
            id=self._ctx.ids.new_id(),
            family_id=family_id or self._ctx.ids.new_id(),
            user_id=user.id,
            token_digest=_digest(secret),
            issued_at=now,
            expires_at=now + self._ctx.policy.refresh_token_ttl,
        )

        async def work(uow: UnitOfWork) -> None:
            await uow.refresh_tokens.add(token)

        await self._ctx.storage.run(work)
        access = self._tokens.issue_access(user, now, generation)
        return TokenPair(access.token, secret, access.expires_in)

    # Profiles -----------------------------------------------------------------------------------

    async def me(self, actor: Actor) -> User:
        async def work(uow: UnitOfWork) -> User | None:
            return await uow.users.get(actor.user_id)

        user = await self._ctx.storage.run_read(work)
        if user is None or not user.is_active:
            raise NotAuthenticated("The user of this token no longer exists or is inactive.")
        return user

    async def update_me(self, actor: Actor, changes: ProfileChanges) -> User:
        user = await self.me(actor)
        now = self._ctx.clock.now()
        new_hash: str | None = None
        if changes.password is not None:
            if changes.current_password is None:
                raise ValidationFailed(
                    "current_password is required to change the password.",
                    [FieldError("current_password", "required to change the password")],
                )
            if not await self._hasher.verify(user.password_hash, changes.current_password):
                raise ValidationFailed(
                    "The current password is wrong.",
                    [FieldError("current_password", "incorrect")],
                )
            check_password(changes.password, email=user.email, username=user.username)
            new_hash = await self._hasher.hash(changes.password)
        if changes.date_of_birth is not None and changes.date_of_birth > now.date():
            raise ValidationFailed(
                "The date of birth cannot be in the future.",
                [FieldError("date_of_birth", "in the future")],
            )

        async def work(uow: UnitOfWork) -> tuple[User, SessionMark | None]:
            # Re-read under a lock: a staff change made meanwhile (deactivation) must not be
            # overwritten by this profile change.
            current = await uow.users.lock(actor.user_id)
            if current is None or not current.is_active:
                raise NotAuthenticated("The user of this token no longer exists or is inactive.")
            updated = _with_profile_changes(current, changes, new_hash, now)
            await uow.users.update(updated)
            # A new password ends every session that knew the old one, this one included.
            mark = await end_sessions(uow, user.id, now) if new_hash is not None else None
            return updated, mark

        updated, mark = await self._ctx.storage.run(work)
        if mark is not None:
            await self._sessions.announce(mark)
        return updated

    async def list_users(self, actor: Actor, query: UserQuery) -> Page[User]:
        actor.require_staff()

        async def work(uow: UnitOfWork) -> tuple[list[User], int | None]:
            rows = await uow.users.search(query)
            count = None if query.page.keyset else await uow.users.count(query)
            return rows, count

        rows, count = await self._ctx.storage.run_read(work)
        key = sort_key_for(user_sort_value, query.ordering, lambda u: u.id)
        return paginate(rows, query.page, count, query.ordering, key)


def _with_profile_changes(
    user: User, changes: ProfileChanges, new_hash: str | None, now: datetime
) -> User:
    first_name, last_name = changes.first_name, changes.last_name
    return replace(
        user,
        first_name=first_name.strip() if first_name is not None else user.first_name,
        last_name=last_name.strip() if last_name is not None else user.last_name,
        date_of_birth=(
            None if changes.clear_date_of_birth else (changes.date_of_birth or user.date_of_birth)
        ),
        password_hash=new_hash or user.password_hash,
        updated_at=now,
    )
