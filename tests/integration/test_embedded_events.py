"""Events in the embedded default (SQLite, no Redis): written with the change, listed, followed
by the in-process feed (woken by this process's writes), and delivered to a webhook endpoint by
the in-process jobs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from adapters.sql.migrate import upgrade
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from environment import app_environment
from receiver import Receiver
from support import PASSWORD, new_name, new_phone
from wallet_core.events import EventType
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.services.events import EventListParams


async def test_events_feed_and_webhooks_work_in_process_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = load_settings(
        app_environment(
            DATABASE_URL=url, OUTBOX_POLL_SECONDS="0.1", WEBHOOK_ALLOW_PRIVATE_TARGETS="true"
        ),
        env_file=None,
    )
    receiver = Receiver()
    await receiver.start()
    app = create_app(settings)
    try:
        async with app.lifespan():
            core = app.state.container.core
            staff_user, _ = await core.auth.register(
                Registration(
                    f"{new_name()}@x.example", new_name(), PASSWORD, new_phone(), is_staff=True
                )
            )
            user, wallet = await core.auth.register(
                Registration(f"{new_name()}@x.example", new_name(), PASSWORD, new_phone())
            )
            staff, alice = Actor(staff_user.id, True), Actor(user.id)
            made = await core.webhooks.create(alice, receiver.url, ["*"])
            start = await core.events.start(None)
            got = []

            async def follow() -> None:
                async for event in core.events.feed(alice, start):
                    if event is not None:
                        got.append(event)
                        if len(got) == 4:
                            return

            following = asyncio.create_task(follow())
            await asyncio.sleep(0.05)
            for amount in ("1.00", "2.00"):
                await core.deposits.manual(staff, amount=amount, wallet_id=wallet.id)
            await asyncio.wait_for(following, 10)
            assert [e.type for e in got] == [
                EventType.TRANSACTION_CREATED,
                EventType.TRANSACTION_COMPLETED,
            ] * 2
            positions = [e.position for e in got]
            assert positions == sorted(positions)  # type: ignore[type-var]
            listed = await core.events.list(alice, EventListParams())
            assert [e.id for e in listed.items] == sorted((e.id for e in got), reverse=True)

            await receiver.wait_for(4, timeout=30)  # the in-process jobs deliver them
            assert {json.loads(r.body)["id"] for r in receiver.received} == {str(e.id) for e in got}
            assert all(r.headers["x-signature"].startswith("t=") for r in receiver.received)
            del made
    finally:
        await receiver.stop()
