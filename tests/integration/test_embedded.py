"""The embedded default: SQLite, in-process cache, rate limits and background jobs, no Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from adapters.sql.migrate import upgrade
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from environment import app_environment
from support import PASSWORD, new_name, new_phone
from wallet_core.local import MemoryNotifier


async def test_the_embedded_app_serves_and_runs_its_jobs_in_process(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wallet.db'}"
    await asyncio.to_thread(upgrade, url)
    env = app_environment(
        DATABASE_URL=url,
        EXPIRY_INTERVAL_SECONDS="1",
        OUTBOX_POLL_SECONDS="0.1",
        TRANSFER_EXPIRY_SECONDS="1",
    )
    settings = load_settings(env, env_file=None)
    assert settings.embedded
    app = create_app(settings)
    async with app.lifespan():
        container = app.state.container
        notifier = container.notifier
        assert isinstance(notifier, MemoryNotifier)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as http:
            assert (await http.get("/health/ready")).json()["checks"] == {"database": "ok"}
            people = []
            for _ in range(2):
                name = new_name()
                body = {
                    "email": f"{name}@example.com",
                    "username": name,
                    "password": PASSWORD,
                    "phone_number": new_phone(),
                }
                created = await http.post("/api/v1/auth/register", json=body)
                assert created.status_code == 201, created.text
                token = await http.post(
                    "/api/v1/auth/token", json={"email": body["email"], "password": PASSWORD}
                )
                people.append(
                    (created.json(), {"Authorization": f"Bearer {token.json()['access_token']}"})
                )
            (alice, alice_auth), (bob, _) = people
            from uuid import UUID

            from wallet_core.services.auth import Registration
            from wallet_core.services.context import Actor

            staff, _ = await container.core.auth.register(
                Registration(
                    f"{new_name()}@example.com",
                    new_name("staff"),
                    PASSWORD,
                    new_phone(),
                    is_staff=True,
                )
            )
            await container.core.deposits.manual(
                Actor(staff.id, True), amount="9.00", wallet_id=UUID(alice["wallet"]["id"])
            )
            sent = await http.post(
                "/api/v1/wallet/transactions",
                json={"type": "transfer", "amount": "2.00", "recipient": bob["user"]["username"]},
                headers={**alice_auth, "Idempotency-Key": new_name("k")},
            )
            assert sent.status_code == 201, sent.text
            transaction_id = sent.json()["id"]
            for _ in range(60):  # the in-process expiry job runs every second
                state = await http.get(
                    f"/api/v1/wallet/transactions/{transaction_id}", headers=alice_auth
                )
                if state.json()["status"] == "expired":
                    break
                await asyncio.sleep(0.1)
            assert state.json()["status"] == "expired"
            wallet = await http.get(f"/api/v1/wallet/{alice['wallet']['id']}", headers=alice_auth)
            assert wallet.json()["available_balance"] == "9.00"
        for _ in range(50):
            subjects = [m.subject for m in notifier.sent if m.to == alice["user"]["email"]]
            if len(subjects) >= 3:
                break
            await asyncio.sleep(0.1)
    assert sorted(subjects) == sorted(
        [
            "Deposit received: 9.00 USD",
            f"You sent 2.00 USD to {bob['user']['username']}",
            "Transfer " + sent.json()["reference"] + " of 2.00 USD expired",
        ]
    )
