"""Running balances: every posted line carries its account's balance right after it, and the
audit notices when one does not."""

from __future__ import annotations

import dataclasses

import pytest
from core_world import make_world


async def test_each_posted_line_carries_the_balance_after_it() -> None:
    world = await make_world()
    alice = await world.register("alice")
    bob = await world.register("bob")
    await world.fund(alice.wallet.id, "100.00")
    sent = await world.core.transfers.create_transfer(alice.actor, amount="30.00", recipient="bob")
    await world.core.transactions.act(bob.actor, sent.id, "accept")
    await world.fund(alice.wallet.id, "5.00")
    lines = sorted(
        (e for e in world.storage.state.entries.values() if e.account_id == alice.wallet.id),
        key=lambda e: e.posted_at,
    )
    assert [(e.amount, e.balance_after) for e in lines if e.is_posted] == [
        (10000, 10000),
        (-3000, 7000),
        (500, 7500),
    ]
    assert all(e.balance_after is None for e in lines if not e.is_posted)
    assert len({e.posted_at for e in lines if e.is_posted}) == 3


async def test_freezing_never_moves_a_wallet_back_in_time() -> None:
    """Posted lines take their account's next ``updated_at``: a freeze at an earlier clock
    reading must not make two lines share an instant (it did once)."""
    world = await make_world()
    alice = await world.register("alice")
    for _ in range(3):
        await world.fund(alice.wallet.id, "1.00")
    await world.core.wallets.set_active(world.staff, alice.wallet.id, False)
    await world.core.wallets.set_active(world.staff, alice.wallet.id, True)
    await world.fund(alice.wallet.id, "1.00")
    assert (await world.core.audit.run()).ok
    instants = [
        e.posted_at
        for e in world.storage.state.entries.values()
        if e.is_posted and e.account_id == alice.wallet.id
    ]
    assert len(instants) == len(set(instants))


@pytest.mark.parametrize("tamper", ["wrong_running_sum", "shared_instant"])
async def test_audit_checks_every_running_balance(tamper: str) -> None:
    world = await make_world()
    alice = await world.register("alice")
    await world.fund(alice.wallet.id, "10.00")
    await world.fund(alice.wallet.id, "20.00")
    assert (await world.core.audit.run()).ok
    entries = world.storage.state.entries
    first, second = sorted(
        (e for e in entries.values() if e.account_id == alice.wallet.id and e.is_posted),
        key=lambda e: e.posted_at,
    )
    if tamper == "wrong_running_sum":
        entries[first.id] = dataclasses.replace(first, balance_after=999)
    else:
        entries[first.id] = dataclasses.replace(first, posted_at=second.posted_at)
    report = await world.core.audit.run()
    assert not report.ok
    assert any(alice.wallet.id.hex[:8] in p or str(alice.wallet.id) in p for p in report.problems)
