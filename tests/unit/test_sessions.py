"""Session revocation in the core (docs/api.md "Authentication"): deactivation, a password change
and losing the staff role end every session; the in-process marks are trusted only while fresh;
staff user administration. The manual clock is the subject here: it never moves unless told."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from core_world import PASSWORD, SECRET, START, World

from wallet_core.core import WalletCore, build_core
from wallet_core.errors import (
    InvalidCredentials,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TokenRevoked,
)
from wallet_core.local import LocalSessionFeed, MemoryCache, MemoryNotifier, Uuid7Generator
from wallet_core.ports import UnitOfWork
from wallet_core.queries import UserFilter, UserQuery
from wallet_core.services.auth import ProfileChanges
from wallet_core.services.context import Actor
from wallet_core.services.users import AccessChanges
from wallet_core.sessions import SessionMark, SessionMarks
from wallet_core.testing.fakes import (
    HmacTokenIssuer,
    KeyedSecretHasher,
    MemorySecretBox,
    Pbkdf2PasswordHasher,
    PlainRenderer,
)

NEW_PASSWORD = "a brand new passphrase 42"


def another_process(world: World) -> WalletCore:
    """A second API process: the same database and signing key, its own session marks."""
    return build_core(
        storage=world.storage,
        cache=MemoryCache(world.clock),
        clock=world.clock,
        ids=Uuid7Generator(),
        password_hasher=Pbkdf2PasswordHasher(),
        tokens=HmacTokenIssuer(SECRET),
        secret_hasher=KeyedSecretHasher(SECRET),
        secret_box=MemorySecretBox(SECRET),
        renderer=PlainRenderer(),
        notifier=MemoryNotifier(),
        session_feed=LocalSessionFeed(),
    )


async def signed_in(core: WalletCore, login: str, password: str = PASSWORD) -> Actor:
    """Log in and present the access token, as a request would (check, then confirm)."""
    pair = await core.auth.login(login, password)
    return await presented(core, pair.access_token)


async def presented(core: WalletCore, token: str) -> Actor:
    actor = core.auth.authenticate(token)
    await core.auth.confirm(actor)
    return actor


async def advance_behind_the_maps_back(world: World, actor: Actor) -> None:
    """A mark committed without announcing it (a publish lost on the way)."""

    async def work(uow: UnitOfWork) -> None:
        await uow.session_marks.advance(actor.user_id, world.clock.now())

    await world.storage.run(work)


# The in-process map -----------------------------------------------------------------------------


def test_marks_keep_the_newest_generation_and_refuse_older_tokens() -> None:
    marks = SessionMarks(retention=timedelta(minutes=32))
    user = uuid4()
    marks.learn([SessionMark(user, 3, START), SessionMark(user, 2, START)])
    assert marks.generation_of(user) == 3
    assert [marks.is_revoked(user, g) for g in (0, 2, 3, 4)] == [True, True, False, False]
    assert not marks.is_revoked(uuid4(), 0)


def test_marks_are_trusted_for_one_second_after_a_confirmation() -> None:
    marks = SessionMarks(retention=timedelta(minutes=32))
    assert not marks.is_fresh(START), "never confirmed: not to be trusted"
    marks.confirm(START)
    assert marks.is_fresh(START + timedelta(milliseconds=999))
    assert not marks.is_fresh(START + timedelta(seconds=1))
    marks.confirm(START - timedelta(seconds=5))  # an older confirmation changes nothing
    assert marks.fresh_for(START) == timedelta(seconds=1)


def test_marks_older_than_the_retention_are_forgotten() -> None:
    marks = SessionMarks(retention=timedelta(minutes=32))
    old, recent = uuid4(), uuid4()
    marks.learn([SessionMark(old, 1, START), SessionMark(recent, 1, START + timedelta(minutes=5))])
    marks.prune(START + timedelta(minutes=33))
    assert (marks.generation_of(old), marks.generation_of(recent)) == (0, 1)


# Ending sessions --------------------------------------------------------------------------------


async def test_deactivation_ends_every_session_of_the_user(world: World) -> None:
    await world.register("bob")
    first = await world.core.auth.login("bob", PASSWORD)
    second = await world.core.auth.login("bob", PASSWORD)
    bob = await presented(world.core, first.access_token)

    user = await world.core.users.update_access(
        world.staff, bob.user_id, AccessChanges(is_active=False)
    )

    assert user.is_active is False
    for token in (first.access_token, second.access_token):
        with pytest.raises(TokenRevoked):
            world.core.auth.authenticate(token)
    for refresh in (first.refresh_token, second.refresh_token):
        with pytest.raises(NotAuthenticated):
            await world.core.auth.refresh(refresh)
    with pytest.raises(InvalidCredentials):
        await world.core.auth.login("bob", PASSWORD)


async def test_reactivation_does_not_revive_old_sessions(world: World) -> None:
    await world.register("bob")
    old = await world.core.auth.login("bob", PASSWORD)
    bob = world.core.auth.authenticate(old.access_token)
    for active in (False, True):
        await world.core.users.update_access(
            world.staff, bob.user_id, AccessChanges(is_active=active)
        )
    with pytest.raises(TokenRevoked):
        await presented(world.core, old.access_token)
    with pytest.raises(NotAuthenticated):
        await world.core.auth.refresh(old.refresh_token)
    assert (await signed_in(world.core, "bob")).user_id == bob.user_id


async def test_a_password_change_ends_old_sessions_and_a_login_in_the_same_instant_works(
    world: World,
) -> None:
    await world.register("bob")
    old = await world.core.auth.login("bob", PASSWORD)
    bob = await presented(world.core, old.access_token)

    await world.core.auth.update_me(
        bob, ProfileChanges(password=NEW_PASSWORD, current_password=PASSWORD)
    )

    with pytest.raises(TokenRevoked):
        await presented(world.core, old.access_token)
    # The clock has not moved: the new token has the very same iat as the revoked one.
    fresh = await world.core.auth.login("bob", NEW_PASSWORD)
    assert (await presented(world.core, fresh.access_token)).session_generation == 1
    assert await world.core.auth.refresh(fresh.refresh_token)


async def test_a_profile_change_without_a_new_password_keeps_the_session(world: World) -> None:
    await world.register("bob")
    bob = await signed_in(world.core, "bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    await world.core.auth.update_me(bob, ProfileChanges(first_name="Robert"))
    assert await presented(world.core, pair.access_token) == bob


async def test_losing_the_staff_role_takes_staff_powers_at_once(world: World) -> None:
    await world.register("eve", is_staff=True)
    eve = await signed_in(world.core, "eve")
    token_pair = await world.core.auth.login("eve", PASSWORD)
    assert (await world.core.auth.list_users(eve, UserQuery(UserFilter()))).items

    await world.core.users.update_access(world.staff, eve.user_id, AccessChanges(is_staff=False))

    with pytest.raises(TokenRevoked):
        await presented(world.core, token_pair.access_token)
    again = await signed_in(world.core, "eve")
    assert again.is_staff is False
    with pytest.raises(PermissionDenied):
        await world.core.auth.list_users(again, UserQuery(UserFilter()))


async def test_granting_the_staff_role_keeps_the_session(world: World) -> None:
    await world.register("bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    bob = await presented(world.core, pair.access_token)
    user = await world.core.users.update_access(
        world.staff, bob.user_id, AccessChanges(is_staff=True)
    )
    assert user.is_staff is True
    assert await presented(world.core, pair.access_token) == bob  # staff from the next login
    assert (await signed_in(world.core, "bob")).is_staff is True


# Other processes --------------------------------------------------------------------------------


async def test_another_process_refuses_the_token_before_it_hears_of_the_mark(world: World) -> None:
    """Its marks were never confirmed, so it asks the database rather than trust them."""
    other = another_process(world)
    await world.register("bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    bob = await presented(other, pair.access_token)
    await world.core.users.update_access(world.staff, bob.user_id, AccessChanges(is_active=False))

    actor = other.auth.authenticate(pair.access_token)  # nothing known here yet
    with pytest.raises(TokenRevoked):
        await other.auth.confirm(actor)


async def test_fresh_marks_are_trusted_without_the_database_and_only_for_a_second(
    world: World,
) -> None:
    other = another_process(world)
    await world.register("bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    assert await other.sessions.sync() == 0
    bob = await presented(other, pair.access_token)

    await advance_behind_the_maps_back(world, bob)

    world.advance(milliseconds=900)
    assert await presented(other, pair.access_token) == bob, "fresh: the map alone decides"
    world.advance(milliseconds=100)
    with pytest.raises(TokenRevoked):
        await presented(other, pair.access_token)


async def test_a_poll_brings_marks_made_elsewhere(world: World) -> None:
    other = another_process(world)
    await world.register("bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    bob = world.core.auth.authenticate(pair.access_token)
    await other.sessions.sync()
    await world.core.users.update_access(world.staff, bob.user_id, AccessChanges(is_active=False))

    world.advance(milliseconds=300)
    assert await other.sessions.sync() == 1
    with pytest.raises(TokenRevoked):
        other.auth.authenticate(pair.access_token)  # known here now: refused without any I/O
    assert other.sessions.marks.is_fresh(world.clock.now())


async def test_the_next_poll_rereads_only_recent_marks(world: World) -> None:
    await world.register("bob")
    bob = await signed_in(world.core, "bob")
    await world.core.users.update_access(world.staff, bob.user_id, AccessChanges(is_active=False))
    assert await world.core.sessions.sync() == 1
    world.advance(seconds=11)
    assert await world.core.sessions.sync() == 1, "within the overlap of the previous poll"
    assert await world.core.sessions.sync() == 0, "past it"
    world.advance(minutes=40)  # past the retention: every token it refused has expired
    await world.core.sessions.sync()
    assert world.core.sessions.marks.generation_of(bob.user_id) == 0


# Staff administration ---------------------------------------------------------------------------


async def test_only_staff_see_or_change_users_and_others_get_not_found(world: World) -> None:
    bob = (await world.register("bob")).actor
    carol = (await world.register("carol")).actor
    for target in (carol.user_id, bob.user_id, uuid4()):
        with pytest.raises(NotFound):
            await world.core.users.get(bob, target)
        with pytest.raises(NotFound):
            await world.core.users.update_access(bob, target, AccessChanges(is_staff=True))
    assert (await world.core.users.get(world.staff, carol.user_id)).is_staff is False
    with pytest.raises(NotFound):
        await world.core.users.get(world.staff, uuid4())
    with pytest.raises(NotFound):
        await world.core.users.update_access(world.staff, uuid4(), AccessChanges(is_active=False))


async def test_staff_cannot_lock_themselves_out(world: World) -> None:
    for changes in (AccessChanges(is_active=False), AccessChanges(is_staff=False)):
        with pytest.raises(PermissionDenied):
            await world.core.users.update_access(world.staff, world.staff.user_id, changes)
    same = await world.core.users.update_access(
        world.staff, world.staff.user_id, AccessChanges(is_active=True, is_staff=True)
    )
    assert (same.is_active, same.is_staff) == (True, True)


async def test_a_change_that_changes_nothing_ends_no_session(world: World) -> None:
    await world.register("bob")
    pair = await world.core.auth.login("bob", PASSWORD)
    bob = world.core.auth.authenticate(pair.access_token)
    before = await world.core.users.get(world.staff, bob.user_id)
    for changes in (AccessChanges(), AccessChanges(is_active=True, is_staff=False)):
        after = await world.core.users.update_access(world.staff, bob.user_id, changes)
        assert after == before
    assert await presented(world.core, pair.access_token) == bob
    assert await world.core.auth.refresh(pair.refresh_token)
