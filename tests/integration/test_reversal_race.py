"""Concurrent partial reversals of one transaction, over real parallel HTTP requests to a real
server with two worker processes: together they ask for far more than the original, and the
reversals that succeed never add up to more than it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from environment import app_environment
from servers import wallet_serve
from support import Api

RACERS = 20


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    url = await create_database("wallet_reversals")
    yield url
    await drop_database(url)


async def test_twenty_concurrent_partial_reversals_never_exceed_the_original(
    own_database: str, tmp_path: Path
) -> None:
    env = app_environment(DATABASE_URL=own_database)
    container = build(load_settings(env, env_file=None))
    try:
        async with wallet_serve(env, tmp_path, workers=2) as server:
            fresh = httpx.Limits(max_keepalive_connections=0)  # new connections spread best
            async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=fresh) as http:
                api = Api(http, container)
                alice, bob = await api.person(), await api.person()
                staff = await api.staff()
                await api.fund(alice, "100.00")
                sent = (await api.send(alice, bob, "50.00")).json()
                assert (await api.act(bob, sent["id"], "accept")).status_code == 200
                # 20 x 7.00 = 140.00 asked for, against 50.00: at most 7 can succeed.
                url = f"/api/v1/wallet/transactions/{sent['id']}/reverse"
                gate = asyncio.Event()

                async def racer(n: int) -> httpx.Response:
                    await gate.wait()
                    return await http.post(
                        url,
                        json={"amount": "7.00", "reason": f"race {n}"},
                        headers={**staff.headers, "Idempotency-Key": uuid.uuid4().hex},
                    )

                tasks = [asyncio.create_task(racer(n)) for n in range(RACERS)]
                gate.set()
                responses = await asyncio.gather(*tasks)
                statuses = sorted(r.status_code for r in responses)
                assert set(statuses) <= {201, 422}, [r.text for r in responses]
                won = [r.json() for r in responses if r.status_code == 201]
                assert all(
                    r.json()["code"] == "invalid_amount" for r in responses if r.status_code == 422
                )
                total = sum(int(w["amount"].replace(".", "")) for w in won)
                assert total <= 5000
                assert len(won) == 7  # every racer that could fit did
                original = await http.get(
                    f"/api/v1/wallet/transactions/{sent['id']}", headers=staff.headers
                )
                assert original.json()["reversed_amount"] == "49.00"
                assert (await api.wallet(bob))["balance"] == "1.00"
                assert (await api.wallet(alice))["balance"] == "99.00"
                report = await container.core.audit.run()
                assert report.ok, report.problems
    finally:
        await container.close()
