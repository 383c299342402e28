"""Test support: a complete core on the in-memory adapters, a manual clock and a few helpers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from wallet_core.core import WalletCore
from wallet_core.ledger import Account, Transaction
from wallet_core.local import MemoryNotifier
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor, Policy
from wallet_core.testing import build_in_memory
from wallet_core.testing.fakes import ManualClock
from wallet_core.testing.storage import MemoryStorage
from wallet_core.users import User

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
SECRET = b"unit-test-secret-key-0123456789ab"


@dataclass
class Person:
    """A registered user, their first wallet, and the actor their access token would give."""

    user: User
    wallet: Account
    actor: Actor

    @property
    def phone(self) -> str:
        return self.user.phone_number


@dataclass
class World:
    """One in-memory core with a manual clock, a recording notifier and a staff member."""

    core: WalletCore
    clock: ManualClock
    notifier: MemoryNotifier
    staff: Actor = field(init=False)
    _phones: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    @property
    def storage(self) -> MemoryStorage:
        storage = self.core.ctx.storage
        assert isinstance(storage, MemoryStorage)
        return storage

    def next_phone(self) -> str:
        return f"+1415555{next(self._phones):04d}"

    async def register(
        self,
        username: str,
        *,
        currency: str | None = None,
        is_staff: bool = False,
        phone: str | None = None,
        first_name: str = "",
        last_name: str = "",
    ) -> Person:
        user, wallet = await self.core.auth.register(
            Registration(
                email=f"{username}@example.com",
                username=username,
                password=PASSWORD,
                phone_number=phone or self.next_phone(),
                first_name=first_name,
                last_name=last_name,
                currency=currency,
                is_staff=is_staff,
            )
        )
        return Person(user, wallet, Actor(user.id, is_staff, user.email))

    async def fund(self, wallet_id: UUID, amount: str) -> Transaction:
        return await self.core.deposits.manual(
            self.staff, amount=amount, wallet_id=wallet_id, description="seed"
        )

    async def wallet(self, wallet_id: UUID) -> Account:
        """The current state of a wallet (read as staff)."""
        return await self.core.wallets.get(self.staff, wallet_id)

    async def transaction(self, transaction_id: UUID) -> Transaction:
        return await self.core.transactions.get(self.staff, transaction_id)

    async def drain_outbox(self) -> list[UUID]:
        """Relay every undispatched event, then deliver each one; returns the event ids.

        The enqueue callback only collects ids: delivering inline would re-enter the in-memory
        storage lock, which is not re-entrant.
        """
        ids: list[UUID] = []

        async def enqueue(event_id: UUID) -> None:
            ids.append(event_id)

        await self.core.notifications.relay(enqueue)
        for event_id in ids:
            await self.core.notifications.deliver(event_id)
        return ids

    def advance(self, **kwargs: float) -> None:
        self.clock.advance(timedelta(**kwargs))


async def make_world(
    policy: Policy | None = None, notifier: MemoryNotifier | None = None, **core_kwargs: object
) -> World:
    clock = ManualClock(START)
    notifier = notifier or MemoryNotifier()
    core = build_in_memory(
        clock=clock,
        notifier=notifier,
        policy=policy or Policy(),
        secret=SECRET,
        **core_kwargs,  # type: ignore[arg-type]
    )
    world = World(core, clock, notifier)
    admin, _ = await core.auth.register(
        Registration(
            email="admin@example.com",
            username="admin",
            password=PASSWORD,
            phone_number=world.next_phone(),
            is_staff=True,
        )
    )
    world.staff = Actor(admin.id, True, admin.email)
    return world
