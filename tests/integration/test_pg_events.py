"""Events on real PostgreSQL: written inside the money path's one statement (none when it is
refused), and a feed that, under concurrent writers, sees every committed event exactly once in
commit order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from entrypoints.bootstrap import Container
from support import Api, assert_problem
from wallet_core.events import Event, EventType, Position


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_transfer_writes_one_event_seen_by_both_parties(
    api: Api, database_url: str
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "5.00")
    sent = await api.send(alice, bob, "2.00")
    assert sent.status_code == 201, sent.text
    transaction_id = uuid.UUID(sent.json()["id"])
    refused = await api.send(alice, bob, "99.00")
    assert_problem(refused, 422, "insufficient_funds")

    conn = await asyncpg.connect(_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT e.id, e.type, e.data, array_agg(v.user_id ORDER BY v.user_id) AS viewers"
            " FROM events e JOIN event_viewers v ON v.event_id = e.id"
            " WHERE e.transaction_id = $1 GROUP BY e.id",
            transaction_id,
        )
        mine = await conn.fetchval(
            "SELECT count(*) FROM events e JOIN event_viewers v ON v.event_id = e.id"
            " WHERE v.user_id = $1",
            uuid.UUID(alice.id),
        )
    finally:
        await conn.close()
    assert [r["type"] for r in rows] == ["transaction.created"]
    assert sorted(rows[0]["viewers"]) == sorted([uuid.UUID(alice.id), uuid.UUID(bob.id)])
    assert mine == 3  # the deposit's created and completed, the transfer's created: no refusal


async def test_the_feed_sees_every_event_once_in_commit_order_under_concurrent_writers(
    api: Api, container: Container
) -> None:
    people = [await api.person() for _ in range(4)]
    for person in people:
        await api.fund(person, "100.00")
    events = container.core.events
    start = await events.start(None)
    seen: list[Event] = []
    done = asyncio.Event()
    staff = (await api.staff()).actor

    async def read() -> None:
        position: Position | None = start
        async for event in events.feed(staff, position):
            assert event is not None
            seen.append(event)
            if done.is_set() and len(seen) >= expected:
                return

    expected = 1 << 30
    reader = asyncio.create_task(read())

    async def write(sender: int) -> None:
        for i in range(10):
            recipient = people[(sender + 1 + i % 3) % len(people)]
            response = await api.send(people[sender], recipient, "0.01")
            assert response.status_code == 201, response.text

    await asyncio.gather(*(write(i) for i in range(len(people))))
    expected = 40
    done.set()
    await asyncio.wait_for(reader, 20)
    assert len(seen) == 40 and len({e.id for e in seen}) == 40
    assert all(e.type is EventType.TRANSACTION_CREATED for e in seen)
    positions = [e.position for e in seen]
    assert positions == sorted(positions)  # type: ignore[type-var]


async def test_an_event_still_being_written_holds_later_ones_back_so_none_is_skipped(
    api: Api, container: Container, database_url: str
) -> None:
    """A transaction that took its sequence value first but commits last: the feed must not hand
    out the later events before it, or a reader continuing from them would skip it."""
    alice = await api.person()
    events = container.core.events
    start = await events.start(None)
    slow = await asyncpg.connect(_dsn(database_url))
    early = uuid.uuid4()
    try:
        transaction = slow.transaction()
        await transaction.start()
        await slow.execute(
            "INSERT INTO events (id, type, created_at, data, transaction_id, wallet_id, xid, seq)"
            " VALUES ($1, 'wallet.updated', now(), '{}'::jsonb, NULL, NULL,"
            " pg_current_xact_id()::text::bigint, nextval('events_seq'))",
            early,
        )
        await api.fund(alice, "1.00")  # commits two events after the open one
        held = [e async for e in _drain(events, start)]
        assert held == []  # nothing past the open transaction
        await transaction.commit()
    finally:
        await slow.close()
    released = [e async for e in _drain(events, start)]
    assert released[0].id == early
    assert [e.type for e in released[1:]] == [
        EventType.TRANSACTION_CREATED,
        EventType.TRANSACTION_COMPLETED,
    ]


async def _drain(events: Any, start: Position | None) -> AsyncIterator[Event]:
    """What the feed returns now, read straight from storage (staff: every event)."""
    for event in await events._after(start):
        yield event


async def test_pruning_deletes_old_events_with_their_viewers_only(container: Container) -> None:
    from datetime import UTC, datetime

    old = datetime(2001, 1, 1, tzinfo=UTC)
    viewer = uuid.uuid4()
    ancient = [
        Event(uuid.uuid4(), EventType.WALLET_UPDATED, old, {"wallet": {}}, (viewer,))
        for _ in range(3)
    ]

    async def add(uow: Any) -> None:
        await uow.events.add_many(ancient)

    async def prune(uow: Any) -> tuple[int, int]:
        deliveries = await uow.webhooks.prune_deliveries(datetime(2001, 1, 2, tzinfo=UTC), 100)
        return await uow.events.prune(datetime(2001, 1, 2, tzinfo=UTC), 2), deliveries

    async def left(uow: Any) -> list[Any]:
        return [await uow.events.get(e.id) for e in ancient]

    await container.storage.run(add)
    assert await container.storage.run(prune) == (2, 0)  # bounded by the batch size
    assert await container.storage.run(prune) == (1, 0)
    assert await container.storage.run_read(left) == [None, None, None]
    assert await container.storage.run(prune) == (0, 0)  # nothing newer was touched
