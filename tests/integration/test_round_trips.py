"""What one money request costs on the wire, counted on real PostgreSQL and Redis through
counting proxies: at most two database round trips and one commit, and at most two Redis round
trips (one for the rate-limit windows, one for the list-cache generations after commit). These
are counts, not timings: they hold on any machine."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from environment import WEBHOOK_SECRET
from support import Api, assert_problem, idem
from wallet_core.local import MemoryNotifier
from wire import Counts, PostgresProxy, RedisProxy

DB_ROUND_TRIPS, DB_COMMITS, REDIS_ROUND_TRIPS = 2, 1, 2


@dataclass
class Wire:
    api: Api
    client: httpx.AsyncClient
    postgres: PostgresProxy
    redis: RedisProxy

    def reset(self) -> None:
        self.postgres.reset()
        self.redis.reset()

    def counted(self) -> tuple[Counts, Counts]:
        return self.postgres.reset(), self.redis.reset()


@pytest.fixture
async def wire(
    database_url: str, redis_url: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[Wire]:
    postgres = PostgresProxy("127.0.0.1", make_url(database_url).port or 5432)
    redis = RedisProxy("127.0.0.1", make_url(redis_url.replace("redis", "http", 1)).port or 6379)
    await postgres.start()
    await redis.start()
    database = make_url(database_url).set(host="127.0.0.1", port=postgres.port)
    redis_db = redis_url.rsplit("/", 1)[1]
    settings = make_settings(
        DATABASE_URL=database.render_as_string(hide_password=False),
        REDIS_URL=f"redis://127.0.0.1:{redis.port}/{redis_db}",
    )
    container = build(settings, notifier=MemoryNotifier())
    container.start()  # session revocation marks arrive by Redis: no database read per request
    app = create_app(settings, container, run_background_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Wire(Api(client, container), client, postgres, redis)
    await container.close()
    await postgres.stop()
    await redis.stop()


def _explain(counts: Counts) -> str:
    return "\n".join(counts.statements)


def assert_within_budget(postgres: Counts, redis: Counts) -> None:
    assert postgres.round_trips <= DB_ROUND_TRIPS, _explain(postgres)
    assert postgres.commits <= DB_COMMITS, _explain(postgres)
    assert redis.round_trips <= REDIS_ROUND_TRIPS, _explain(redis)


async def _fresh_session_marks(wire: Wire) -> None:
    """Until this process trusts its session marks (the Redis subscription confirmed them)."""
    core = wire.api.container.core
    for _ in range(100):
        if core.sessions.marks.is_fresh(core.ctx.clock.now()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the session marks never became fresh")


async def _pair(wire: Wire, sender: object, recipient: object) -> tuple[str, str]:
    created = await wire.client.post(
        "/api/v1/wallet/transactions",
        json={"type": "transfer", "amount": "1.00", "recipient": recipient.username},  # type: ignore[attr-defined]
        headers={**sender.headers, **idem()},  # type: ignore[attr-defined]
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], created.text


async def test_a_transfer_and_its_accept_each_cost_two_round_trips_and_one_commit(
    wire: Wire,
) -> None:
    alice, bob = await wire.api.person(), await wire.api.person()
    await wire.api.fund(alice, "100.00")
    await _fresh_session_marks(wire)
    # Warm up: connections open, statements prepared, composite types known.
    warm_id, _ = await _pair(wire, alice, bob)
    accepted = await wire.client.post(
        f"/api/v1/wallet/transactions/{warm_id}/action",
        json={"action": "accept"},
        headers={**bob.headers, **idem()},
    )
    assert accepted.status_code == 200, accepted.text

    wire.reset()
    transaction_id, _ = await _pair(wire, alice, bob)
    postgres, redis = wire.counted()
    assert postgres.round_trips >= 2  # it did reach the database: the counter works
    assert postgres.commits == 1
    assert_within_budget(postgres, redis)

    accepted = await wire.client.post(
        f"/api/v1/wallet/transactions/{transaction_id}/action",
        json={"action": "accept"},
        headers={**bob.headers, **idem()},
    )
    assert accepted.status_code == 200, accepted.text
    postgres, redis = wire.counted()
    assert postgres.commits == 1
    assert_within_budget(postgres, redis)
    await wire.api.audit_clean()


async def test_a_refused_transfer_writes_its_receipt_in_one_commit(wire: Wire) -> None:
    alice, bob = await wire.api.person(), await wire.api.person()
    await wire.api.fund(alice, "1.00")
    await _pair(wire, alice, bob)  # warm up
    wire.reset()
    refused = await wire.client.post(
        "/api/v1/wallet/transactions",
        json={"type": "transfer", "amount": "5.00", "recipient": bob.username},
        headers={**alice.headers, **idem()},
    )
    assert_problem(refused, 422, "insufficient_funds")
    postgres, redis = wire.counted()
    assert postgres.commits == 1  # the receipt, so the retry replays the refusal
    assert_within_budget(postgres, redis)


async def test_a_paysend_deposit_costs_two_round_trips_and_one_commit(wire: Wire) -> None:
    from entrypoints.http.webhooks.signatures import sign

    alice = await wire.api.person()

    async def deposit() -> None:
        notice = {
            "transactionId": uuid.uuid4().hex,
            "status": "COMPLETED",
            "recipient": {"phone_number": alice.phone_number, "amount": "2.00"},
        }
        body = json.dumps(notice)
        headers = {"Content-Type": "application/json", **sign(body.encode(), WEBHOOK_SECRET)}
        answer = await wire.client.post(
            "/api/v1/wallet/webhook/paysend", content=body, headers=headers
        )
        assert answer.status_code == 200, answer.text

    await deposit()  # warm up (and the Paysend system account, created once)
    wire.reset()
    await deposit()
    postgres, redis = wire.counted()
    assert postgres.commits == 1
    assert_within_budget(postgres, redis)


async def test_a_reversal_costs_two_round_trips_and_one_commit(wire: Wire) -> None:
    alice, bob = await wire.api.person(), await wire.api.person()
    staff = await wire.api.staff()
    await wire.api.fund(alice, "10.00")
    await _fresh_session_marks(wire)
    transaction_id, _ = await _pair(wire, alice, bob)
    accepted = await wire.client.post(
        f"/api/v1/wallet/transactions/{transaction_id}/action",
        json={"action": "accept"},
        headers={**bob.headers, **idem()},
    )
    assert accepted.status_code == 200, accepted.text

    async def reverse() -> None:
        answer = await wire.client.post(
            f"/api/v1/wallet/transactions/{transaction_id}/reverse",
            json={"amount": "0.10", "reason": "test"},
            headers={**staff.headers, **idem()},
        )
        assert answer.status_code == 201, answer.text

    await reverse()  # warm up
    wire.reset()
    await reverse()
    postgres, redis = wire.counted()
    assert postgres.round_trips >= 2
    assert postgres.commits == 1
    assert_within_budget(postgres, redis)
    await wire.api.audit_clean()
