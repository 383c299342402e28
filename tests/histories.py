"""A small history written through the core on real storage (PostgreSQL or SQLite): deposits,
accepted transfers on one clock reading, and a pending transfer an hour later, for migration
tests that need rows the application itself wrote."""

from __future__ import annotations

import uuid
from datetime import timedelta

from adapters.sql.engine import create_engine, plain_url
from adapters.sql.pg_ledger import AsyncpgLedger
from adapters.sql.storage import SqlStorage
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.services.wallets import WalletListParams
from wallet_core.testing import build_in_memory
from wallet_core.testing.fakes import ManualClock

PASSWORD = "correct horse battery staple"


async def write_history(url: str, postgres: bool) -> None:
    clock = ManualClock()
    storage = SqlStorage(create_engine(url, pool_size=2, max_overflow=2))
    ledger = AsyncpgLedger(plain_url(url)) if postgres else None
    core = build_in_memory(storage=storage, ledger=ledger, clock=clock)
    people = []
    for n, staff in enumerate((True, False, False)):
        name = f"b{uuid.uuid4().hex[:10]}"
        user, _ = await core.auth.register(
            Registration(f"{name}@example.com", name, PASSWORD, f"+1415777{n:04d}", is_staff=staff)
        )
        people.append((Actor(user.id, staff, user.email), name))
    (staff, _), (alice, _), (bob, bob_name) = people
    alice_wallet = (await core.wallets.list(alice, WalletListParams())).items[0]
    try:
        for cents in (1000, 250, 1):
            await core.deposits.manual(
                staff, amount=f"{cents / 100:.2f}", wallet_id=alice_wallet.id, description="d"
            )
        for _ in range(3):  # same clock reading: lines a microsecond apart
            sent = await core.transfers.create_transfer(alice, amount="1.50", recipient=bob_name)
            await core.transactions.act(bob, sent.id, "accept")  # type: ignore[union-attr]
        clock.advance(timedelta(hours=1))
        await core.transfers.create_transfer(bob, amount="2.00", recipient=str(alice_wallet.id))
    finally:
        if ledger is not None:
            await ledger.close()
        await storage.close()
