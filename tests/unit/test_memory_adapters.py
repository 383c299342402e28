"""The in-memory adapters the core ships for tests and library users, and the list cache."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import pytest
from core_world import PASSWORD, World

from wallet_core.errors import AlreadyExists, NotAuthenticated
from wallet_core.list_cache import TransactionListCache
from wallet_core.local import MemoryCache, Uuid7Generator
from wallet_core.ports import UnitOfWork
from wallet_core.services.auth import Registration
from wallet_core.testing.fakes import HmacTokenIssuer, ManualClock, Pbkdf2PasswordHasher
from wallet_core.testing.storage import MemoryStorage

# Ids ------------------------------------------------------------------------------------------


def test_uuid7_ids_are_version_7_and_strictly_increasing() -> None:
    # Many ids share a millisecond: they must still sort in creation order ("ties broken by
    # id" and "oldest first" depend on it).
    generator = Uuid7Generator()
    ids = [generator.new_id() for _ in range(50_000)]
    assert all(a < b for a, b in pairwise(ids))
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {"specified in RFC 4122"}
    assert sorted(ids, key=lambda i: i.bytes) == ids  # the byte order databases use agrees


def test_uuid7_ids_carry_the_creation_time() -> None:
    before = time.time_ns() // 1_000_000
    made = Uuid7Generator().new_id()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


# Clock and cache ------------------------------------------------------------------------------


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == clock.now() == start
    clock.advance(timedelta(minutes=5))
    assert clock.now() == start + timedelta(minutes=5)


async def test_memory_cache_expires_entries_and_counts() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock)
    await cache.set("a", b"1", ttl_seconds=60)
    assert await cache.get_many(["a", "missing"]) == [b"1", None]
    clock.advance(timedelta(seconds=60))
    assert await cache.get_many(["a"]) == [None]
    assert await cache.incr(["n", "n", "m"])
    assert await cache.get_many(["n", "m"]) == [b"2", b"1"]


# Storage --------------------------------------------------------------------------------------


async def test_a_failed_unit_of_work_leaves_no_trace(world: World) -> None:
    class Boom(Exception):
        pass

    user, _ = await world.core.auth.register(
        Registration("ann@example.com", "ann", PASSWORD, "+14155550001")
    )

    async def work(uow: UnitOfWork) -> None:
        await uow.users.update(dataclasses.replace(user, first_name="X"))
        assert (await uow.users.get(user.id)).first_name == "X"  # type: ignore[union-attr]
        raise Boom

    with pytest.raises(Boom):
        await world.core.ctx.storage.run(work)

    async def read(uow: UnitOfWork) -> str:
        found = await uow.users.get(user.id)
        assert found is not None
        return found.first_name

    assert await world.core.ctx.storage.run_read(read) == ""


async def test_storage_refuses_a_second_wallet_per_currency_within_one_unit(world: World) -> None:
    person = await world.register("ann")
    storage = world.storage
    assert isinstance(storage, MemoryStorage)
    before = dict(storage.state.accounts)

    async def work(uow: UnitOfWork) -> None:
        await uow.accounts.add(person.wallet)

    with pytest.raises(AlreadyExists):
        await storage.run(work)
    assert storage.state.accounts == before


# Password hashing and tokens ------------------------------------------------------------------


async def test_pbkdf2_hashes_are_salted_and_verifiable() -> None:
    hasher = Pbkdf2PasswordHasher(iterations=10)
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)
    assert first != second
    assert await hasher.verify(first, PASSWORD)
    assert not await hasher.verify(first, PASSWORD + "!")
    assert not await hasher.verify("not-a-hash", PASSWORD)
    await hasher.burn(PASSWORD)


async def test_hmac_tokens_are_bound_to_their_key(world: World) -> None:
    person = await world.register("ann")
    now = world.clock.now()
    issued = HmacTokenIssuer(b"k" * 32, ttl_seconds=60).issue_access(person.user, now)
    assert issued.expires_in == 60
    claims = HmacTokenIssuer(b"k" * 32).verify_access(issued.token, now)
    assert (claims.user_id, claims.email, claims.is_staff) == (
        person.user.id,
        "ann@example.com",
        False,
    )
    assert claims.expires_at == now.replace(microsecond=0) + timedelta(seconds=60)
    with pytest.raises(NotAuthenticated):
        HmacTokenIssuer(b"x" * 32).verify_access(issued.token, now)
    with pytest.raises(NotAuthenticated):
        HmacTokenIssuer(b"k" * 32).verify_access(issued.token, now + timedelta(seconds=60))


# The transaction-list cache -------------------------------------------------------------------


class FlakyCache(MemoryCache):
    """A cache whose counters can be made unreachable (a Redis outage)."""

    def __init__(self) -> None:
        super().__init__(ManualClock())
        self.down = False

    async def incr(self, keys: Sequence[str]) -> bool:
        if self.down:
            return False
        return await super().incr(keys)


ANN = UUID(int=1)
BEN = UUID(int=2)


async def test_list_cache_serves_a_stored_page_until_the_user_changes() -> None:
    cache = TransactionListCache(MemoryCache(ManualClock()), ttl_seconds=900)
    key, cached = await cache.lookup(ANN, "page=1")
    assert cached is None
    await cache.store(key, b"ann page 1")
    assert await cache.lookup(ANN, "page=1") == (key, b"ann page 1")
    assert (await cache.lookup(ANN, "page=2"))[1] is None  # another query, another key
    assert (await cache.lookup(BEN, "page=1"))[1] is None  # another viewer, another key

    staff_key, _ = await cache.lookup(None, "page=1")
    await cache.store(staff_key, b"everything")
    ben_key, _ = await cache.lookup(BEN, "page=1")
    await cache.store(ben_key, b"ben page 1")

    await cache.invalidate([ANN, ANN])
    assert (await cache.lookup(ANN, "page=1"))[1] is None
    assert (await cache.lookup(None, "page=1"))[1] is None  # staff pages show everyone
    assert (await cache.lookup(BEN, "page=1"))[1] == b"ben page 1"


async def test_list_cache_drops_every_page_after_an_outage() -> None:
    backend = FlakyCache()
    cache = TransactionListCache(backend, ttl_seconds=900)
    key, _ = await cache.lookup(BEN, "q")
    await cache.store(key, b"ben before")
    backend.down = True
    await cache.invalidate([ANN])  # could not reach the counters: ben's page might be stale too
    backend.down = False
    assert (await cache.lookup(BEN, "q"))[1] is None
    new_key, _ = await cache.lookup(BEN, "q")
    await cache.store(new_key, b"ben after")
    assert (await cache.lookup(BEN, "q"))[1] == b"ben after"  # the debt is paid only once
