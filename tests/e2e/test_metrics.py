"""``/metrics`` of a real ``wallet serve --workers 2`` (docs/api.md "Health, metrics and the API
pages").

One scrape reports the whole server: requests served by either worker add up; the route label
is the full path template; every money movement counts, whichever entrypoint made it (HTTP, the
Paysend and ATM webhooks, the in-process expiry job), and a repeated delivery counts once.
The worker's own metrics port is tested with a real ``wallet worker`` and ``wallet scheduler``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from databases import create_database, drop_database
from entrypoints.bootstrap import Container, build
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import load_settings
from entrypoints.worker.broker import make_broker
from entrypoints.worker.tasks import holder, register_tasks
from environment import ATM_SECRET, WEBHOOK_SECRET, app_environment
from servers import eventually, free_port, label_values, metric_value, wallet_serve
from support import PASSWORD, Api, idem, new_name, new_phone
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

TEMPLATE = "/api/v1/wallet/transactions/{transaction_id}"
MOVEMENTS = "wallet_money_movements_total"
REQUESTS = "wallet_http_requests_total"


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A database of its own: the server's in-process jobs work on everything in it."""
    url = await create_database("wallet_metrics")
    yield url
    await drop_database(url)


async def register(container: Container, *, staff: bool = False) -> tuple[Actor, Any, Any]:
    name = new_name()
    user, wallet = await container.core.auth.register(
        Registration(f"{name}@example.com", name, PASSWORD, new_phone(), is_staff=staff)
    )
    return Actor(user.id, staff), user, wallet


def signed(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Signature": sign(body, secret)["X-Signature"]}


async def test_one_scrape_adds_up_both_workers_and_counts_every_movement(
    own_database: str, tmp_path: Path
) -> None:
    env = app_environment(
        DATABASE_URL=own_database, EXPIRY_INTERVAL_SECONDS="1", TRANSFER_EXPIRY_SECONDS="2"
    )
    container = build(load_settings(env, env_file=None))
    try:
        async with wallet_serve(env, tmp_path, workers=2) as server:
            fresh = httpx.Limits(max_keepalive_connections=0)  # new connections spread best
            async with httpx.AsyncClient(base_url=server.base, timeout=20, limits=fresh) as http:
                api = Api(http, container)
                alice, bob = await api.person(), await api.person()
                await api.fund(alice, "50.00")  # HTTP: deposit completed

                deposit = json.dumps(
                    {
                        "transactionId": f"ps-{uuid.uuid4().hex}",
                        "status": "COMPLETED",
                        "recipient": {"phone_number": alice.phone_number, "amount": "10.00"},
                    }
                ).encode()
                for _ in range(2):  # the provider repeats itself: one credit, counted once
                    response = await http.post(
                        "/api/v1/wallet/webhook/paysend",
                        content=deposit,
                        headers=signed(deposit, WEBHOOK_SECRET),
                    )
                    assert response.json()["status"] == "processed", response.text

                cashout = await http.post(
                    "/api/v1/wallet/transactions",
                    json={"type": "withdrawal", "amount": "5.00"},
                    headers={**alice.headers, **idem()},
                )
                assert cashout.status_code == 201, cashout.text
                code = json.dumps(
                    {
                        "phone_number": alice.phone_number,
                        "withdrawal_code": cashout.json()["withdrawal_code"],
                    }
                ).encode()
                approved = await http.post(
                    "/api/v1/wallet/webhook/cashout", content=code, headers=signed(code, ATM_SECRET)
                )
                assert approved.json()["status"] == "approved", approved.text

                transaction = await http.post(
                    "/api/v1/wallet/transactions",
                    json={"type": "transfer", "amount": "1.00", "recipient": bob.username},
                    headers={**alice.headers, **idem()},
                )
                assert transaction.status_code == 201, transaction.text

                async def expired() -> bool:
                    text = await server.metrics()
                    return metric_value(text, MOVEMENTS, status="expired") >= 1

                await eventually(expired, "the expiry job's movement in a scrape", timeout=60)

                # Requests spread over both workers add up in one scrape.
                probe = f"/api/v1/wallet/transactions/{uuid.uuid4()}"
                sent = 0

                async def both_workers_counted() -> bool:
                    nonlocal sent
                    assert (await http.get(probe)).status_code == 401
                    sent += 1
                    by_worker = server.counts_by_process(REQUESTS, route=TEMPLATE, status="401")
                    return len(by_worker) == 2 and sum(by_worker.values()) == sent

                await eventually(both_workers_counted, "requests counted by both workers", every=0)
                text = await server.metrics()
    finally:
        await container.close()

    assert metric_value(text, REQUESTS, route=TEMPLATE, status="401") == sent
    routes = label_values(text, REQUESTS, "route")
    assert {
        "/api/v1/auth/register",
        "/api/v1/wallet/transactions",
        "/api/v1/wallet/webhook/paysend",
        "/api/v1/wallet/webhook/cashout",
        TEMPLATE,
    } <= routes
    assert "/" not in routes
    movements = {
        (kind, status): metric_value(text, MOVEMENTS, type=kind, status=status)
        for kind, status in (
            ("deposit", "completed"),
            ("withdrawal", "pending"),
            ("withdrawal", "completed"),
            ("transfer", "pending"),
            ("transfer", "expired"),
        )
    }
    assert movements == {
        ("deposit", "completed"): 2,  # the staff deposit and the Paysend one (not its repeat)
        ("withdrawal", "pending"): 1,
        ("withdrawal", "completed"): 1,  # the ATM approval
        ("transfer", "pending"): 1,
        ("transfer", "expired"): 1,  # by the in-process job of one of the workers
    }
    assert metric_value(text, MOVEMENTS) == 6
    for status in ("500", "502", "503"):
        assert metric_value(text, REQUESTS, status=status) == 0


async def test_the_worker_serves_what_its_expiry_job_moved(
    own_database: str, redis_url: str, tmp_path: Path
) -> None:
    """``wallet worker`` with ``WORKER_METRICS_PORT``: its own scrape target, since the expiry
    job it runs is in no API worker's counts."""
    port = free_port()
    env = app_environment(
        DATABASE_URL=own_database,
        REDIS_URL=redis_url,
        TRANSFER_EXPIRY_SECONDS="1",
        WORKER_METRICS_PORT=str(port),
    )
    settings = load_settings(env, env_file=None)
    container = build(settings)
    broker = make_broker(settings)
    get, set_ = holder()
    set_(container)
    tasks = register_tasks(broker, get)
    await broker.startup()
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "entrypoints.cli", "worker"),
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        admin, _, _ = await register(container, staff=True)
        alice, _, wallet = await register(container)
        _, bob, _ = await register(container)
        await container.core.deposits.manual(admin, amount="5.00", wallet_id=wallet.id)
        await container.core.transfers.create_transfer(alice, amount="1.00", recipient=bob.username)
        text = ""

        async def expired_and_counted() -> bool:
            nonlocal text
            assert process.returncode is None, log.read_text()
            await tasks.expire_due.kiq()  # what the scheduler does every minute
            try:
                async with httpx.AsyncClient(timeout=5) as http:
                    text = (await http.get(f"http://127.0.0.1:{port}/")).text
            except httpx.TransportError:
                return False  # not listening yet
            return metric_value(text, MOVEMENTS, type="transfer", status="expired") >= 1

        await eventually(expired_and_counted, "the worker's expiry in its scrape", 120, every=1)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
        await broker.shutdown()
        await container.close()
    assert metric_value(text, MOVEMENTS, type="transfer", status="expired") == 1
    assert metric_value(text, MOVEMENTS) == 1  # the test's own deposit and transfer are not its
