"""Events in the core: which changes make which events, who sees them, the feed as an async
iterator (no gap, no repeat on resume), and pruning."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from core_world import World

from wallet_core.errors import InsufficientFunds, NotFound
from wallet_core.events import Event, EventType
from wallet_core.services.events import EventListParams


async def _all(world: World) -> list[Event]:
    page = await world.core.events.list(world.staff, EventListParams(page_size=100))
    return list(page.items)


async def test_a_transfer_and_its_acceptance_are_one_event_each_seen_by_both(
    world: World,
) -> None:
    alice = await world.register("alice")
    bob = await world.register("bob")
    carol = await world.register("carol")
    await world.fund(alice.wallet.id, "10.00")
    before = {e.id for e in await _all(world)}
    sent = await world.core.transfers.create_transfer(alice.actor, amount="4.00", recipient="bob")
    await world.core.transactions.act(bob.actor, sent.id, "accept")  # type: ignore[union-attr]

    new = [e for e in await _all(world) if e.id not in before]
    assert [e.type for e in reversed(new)] == [
        EventType.TRANSACTION_CREATED,
        EventType.TRANSACTION_COMPLETED,
    ]
    for person in (alice, bob):
        mine = await world.core.events.list(person.actor, EventListParams(transaction=sent.id))  # type: ignore[union-attr]
        assert [e.id for e in mine.items] == [e.id for e in new]
    assert (await world.core.events.list(carol.actor, EventListParams())).items == ()
    with pytest.raises(NotFound):
        await world.core.events.get(carol.actor, new[0].id)
    completed = new[0].data["transaction"]
    assert completed["status"] == "completed" and completed["amount"] == "4.00"
    created = new[1].data["transaction"]
    assert created["status"] == "pending"  # as of the event, not as of now


async def test_a_deposit_is_created_and_completed(world: World) -> None:
    alice = await world.register("alice")
    await world.fund(alice.wallet.id, "1.00")
    mine = await world.core.events.list(alice.actor, EventListParams())
    assert [e.type for e in mine.items] == [
        EventType.TRANSACTION_COMPLETED,
        EventType.TRANSACTION_CREATED,
    ]


async def test_a_refused_request_writes_no_event(world: World) -> None:
    alice = await world.register("alice")
    await world.register("bob")
    with pytest.raises(InsufficientFunds):
        await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    assert await _all(world) == []


async def test_expiry_and_rejection_and_freeze(world: World) -> None:
    alice = await world.register("alice")
    bob = await world.register("bob")
    await world.fund(alice.wallet.id, "10.00")
    first = await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    second = await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    await world.core.transactions.act(bob.actor, second.id, "reject")  # type: ignore[union-attr]
    world.advance(days=2)
    assert await world.core.expiry.expire_due() == 1
    await world.core.wallets.set_active(world.staff, bob.wallet.id, False)
    types = [e.type for e in await _all(world)]
    assert types[:3] == [
        EventType.WALLET_UPDATED,
        EventType.TRANSACTION_EXPIRED,
        EventType.TRANSACTION_REJECTED,
    ]
    wallet_events = await world.core.events.list(
        bob.actor, EventListParams(types=["wallet.updated"])
    )
    assert wallet_events.items[0].data["wallet"]["is_active"] is False
    alice_sees = await world.core.events.list(
        alice.actor, EventListParams(types=["wallet.updated"])
    )
    assert alice_sees.items == ()
    del first


async def test_unknown_type_filter_is_a_validation_error(world: World) -> None:
    from wallet_core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        await world.core.events.list(world.staff, EventListParams(types=["transaction.nope"]))


async def test_keyset_pages_cover_every_event_once(world: World) -> None:
    alice = await world.register("alice")
    for _ in range(7):
        await world.fund(alice.wallet.id, "1.00")
    seen = []
    cursor = None
    while True:
        page = await world.core.events.list(
            alice.actor, EventListParams(page_size=3, cursor=cursor)
        )
        seen += [e.id for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 14 and seen == sorted(seen, reverse=True)


async def test_the_stream_yields_new_events_in_order_and_resumes_without_gap(
    world: World,
) -> None:
    alice = await world.register("alice")
    bob = await world.register("bob")
    await world.fund(alice.wallet.id, "1.00")  # before the stream: not in it
    got: list[Event] = []

    async def consume(last: object = None) -> None:
        async for event in world.core.events.stream(alice.actor, last):  # type: ignore[arg-type]
            got.append(event)
            if len(got) == 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await world.fund(bob.wallet.id, "1.00")  # not alice's
    await world.fund(alice.wallet.id, "2.00")
    await world.core.transfers.create_transfer(alice.actor, amount="1.00", recipient="bob")
    await asyncio.wait_for(task, 5)
    assert [e.type for e in got] == [
        EventType.TRANSACTION_CREATED,
        EventType.TRANSACTION_COMPLETED,
        EventType.TRANSACTION_CREATED,
    ]
    assert got[0].data["transaction"]["amount"] == "2.00"

    # Resume after the first: the next two, then nothing more (no repeat).
    resumed: list[Event] = []
    stream = world.core.events.stream(alice.actor, got[0].id, until=world.clock.now())
    async for event in stream:
        resumed.append(event)
    assert resumed == []  # ``until`` already reached: the stream ends at once
    world_until = world.clock.now() + timedelta(days=1)

    async def resume() -> None:
        async for event in world.core.events.stream(alice.actor, got[0].id, world_until):
            resumed.append(event)
            if len(resumed) == 2:
                return

    await asyncio.wait_for(resume(), 5)
    assert [e.id for e in resumed] == [e.id for e in got[1:]]


async def test_pruning_drops_events_past_retention(world: World) -> None:
    alice = await world.register("alice")
    await world.fund(alice.wallet.id, "1.00")
    world.advance(days=29)
    await world.fund(alice.wallet.id, "1.00")
    assert await world.core.events.prune() == 0
    world.advance(days=2)
    assert await world.core.events.prune() == 2
    assert len(await _all(world)) == 2


async def test_pruning_drops_webhook_deliveries_of_the_same_age() -> None:
    from core_world import make_world

    world = await make_world()
    alice = await world.register("alice")
    await world.core.webhooks.create(alice.actor, "https://x.example", ["*"])
    await world.fund(alice.wallet.id, "1.00")
    await world.core.webhook_delivery.dispatch()
    assert len(world.storage.state.webhook_deliveries) == 2
    world.advance(days=31)
    await world.core.events.prune()
    assert world.storage.state.webhook_deliveries == {}
