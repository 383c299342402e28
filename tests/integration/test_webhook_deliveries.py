"""Outgoing webhooks against a real HTTP receiver in this process, on real PostgreSQL: signed
with the scheme our own incoming webhooks accept; a 500, a receiver that hangs, one that refuses
connections and one that redirects are all retried later, never followed; a receiver that comes
back gets the delivery on a manual retry; a hanging receiver does not hold up another endpoint;
a worker SIGKILLed with deliveries in flight loses none; and the connect-time SSRF check refuses
a host that re-points to loopback after registering (no connection is made)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from adapters.webhooks.httpx_sender import HttpxWebhookSender
from adapters.webhooks.targets import TargetPolicy
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import verify_signature
from entrypoints.settings import Settings
from environment import app_environment
from receiver import Receiver
from support import Api, Person
from wallet_core.webhooks import DeliveryStatus

ENDPOINTS = "/api/v1/webhook-endpoints"
FAST = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "OUTBOX_POLL_SECONDS": "0.1",
}


@dataclass
class Setup:
    api: Api
    client: httpx.AsyncClient
    container: Container


@pytest.fixture
async def setup(make_settings: Callable[..., Settings]) -> AsyncIterator[Setup]:
    settings = make_settings(**FAST)
    container = build(settings)
    app = create_app(settings, container, run_background_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Setup(Api(client, container), client, container)
    await container.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


async def _endpoint(setup: Setup, person: Person, url: str) -> dict[str, str]:
    response = await setup.client.post(
        ENDPOINTS, json={"url": url, "event_types": ["transaction.created"]}, headers=person.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def _log(setup: Setup, person: Person, endpoint_id: str) -> list[dict[str, object]]:
    response = await setup.client.get(
        f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=person.headers
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, object]] = response.json()["results"]
    return results


async def test_a_delivery_is_signed_like_our_incoming_webhooks(
    setup: Setup, receiver: Receiver
) -> None:
    alice = await setup.api.person()
    endpoint = await _endpoint(setup, alice, receiver.url)
    await setup.api.fund(alice, "2.00")
    sent = await setup.container.core.webhook_delivery.run_once()
    assert [d.status for d in sent] == [DeliveryStatus.SUCCEEDED]
    (request,) = receiver.received
    verify_signature(
        request.body, request.headers, [endpoint["secret"]], time.time(), allow_legacy=False
    )
    event = json.loads(request.body)
    assert request.headers["x-event-id"] == event["id"]
    assert request.headers["x-event-type"] == "transaction.created"
    assert request.headers["content-type"] == "application/json"
    events = await setup.client.get(f"/api/v1/events/{event['id']}", headers=alice.headers)
    assert events.json() == event
    (logged,) = await _log(setup, alice, endpoint["id"])
    assert logged["status"] == "succeeded" and logged["last_status_code"] == 200


async def test_failures_are_retried_and_a_receiver_that_comes_back_gets_it(
    setup: Setup, receiver: Receiver
) -> None:
    bob = await setup.api.person()
    endpoint = await _endpoint(setup, bob, receiver.url)
    delivery = setup.container.core.webhook_delivery

    async def attempt(answer: int | str | None) -> dict[str, object]:
        if answer is not None:
            receiver.answers.append(answer)
        (log,) = await _log(setup, bob, endpoint["id"])
        retried = await setup.client.post(
            f"{ENDPOINTS}/{endpoint['id']}/deliveries/{log['id']}/retry", headers=bob.headers
        )
        assert retried.status_code == 202, retried.text
        await delivery.run_once()
        (after,) = await _log(setup, bob, endpoint["id"])
        return after

    receiver.answers.append(500)
    await setup.api.fund(bob, "1.00")
    await delivery.run_once()
    (first,) = await _log(setup, bob, endpoint["id"])
    assert first["status"] == "pending" and first["last_status_code"] == 500
    assert first["attempts"] == 1 and first["next_attempt_at"] is not None
    assert await delivery.run_once() == []  # backing off: not due yet

    hung = await attempt("hang")
    assert hung["status"] == "pending" and "1 s" in str(hung["last_error"])
    receiver.release()
    redirected = await attempt(302)
    assert redirected["last_status_code"] == 302 and "redirect" in str(redirected["last_error"])
    await receiver.stop()
    refused = await attempt(None)
    assert refused["last_status_code"] is None and "connect" in str(refused["last_error"])
    await receiver.start()
    back = await attempt(None)
    assert back["status"] == "succeeded" and back["attempts"] == 5
    ids = {r.headers["x-event-id"] for r in receiver.received}
    assert len(ids) == 1  # the same event each time: receivers dedupe by X-Event-Id


async def test_a_hanging_receiver_does_not_hold_up_another_endpoint(
    setup: Setup, receiver: Receiver
) -> None:
    fast = Receiver()
    await fast.start()
    try:
        carol = await setup.api.person()
        await _endpoint(setup, carol, receiver.url)
        await _endpoint(setup, carol, fast.url)
        receiver.answers += ["hang"] * 5
        running = asyncio.create_task(setup.container.core.webhook_delivery.run(0.1))
        try:
            await setup.api.fund(carol, "1.00")
            await fast.wait_for(1)
            assert receiver.hanging == 1 and len(fast.received) == 1  # while the other hangs
        finally:
            running.cancel()
            receiver.release()
    finally:
        await fast.stop()


async def test_connect_time_check_refuses_a_host_that_now_resolves_to_loopback(
    receiver: Receiver,
) -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    sender = HttpxWebhookSender(TargetPolicy(allow_private=False, resolver=rebinding))
    url = f"http://rebind.test:{receiver.port}/hook"
    assert await sender.check_target(url) is None  # at registration: public
    outcome = await sender.post(url, b"{}", {}, 1.0)  # at delivery: loopback
    await sender.close()
    assert outcome.status_code is None and "refused before connecting" in str(outcome.error)
    assert receiver.received == []


async def test_a_worker_killed_mid_delivery_loses_nothing(
    setup: Setup, receiver: Receiver, make_settings: Callable[..., Settings]
) -> None:
    dave = await setup.api.person()
    await _endpoint(setup, dave, receiver.url)
    receiver.answers += ["hang"] * 3  # the first worker's deliveries never finish
    settings = make_settings(**FAST)
    env = {
        **os.environ,
        **app_environment(
            DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url or "", **FAST
        ),
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "worker", "--concurrency", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = start()
    try:
        for _ in range(3):
            await setup.api.fund(dave, "1.00")
        await receiver.wait_for(3, timeout=90)  # all three in flight, none answered
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        if first.poll() is None:
            first.kill()
    receiver.release()
    second = start()
    try:
        await receiver.wait_for(6, timeout=90)  # each offered again once its lease ran out
    finally:
        # Waiting in a thread: this loop keeps serving the receiver meanwhile.
        second.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(second.wait, 30)
        finally:
            if second.poll() is None:
                second.kill()
    ids = [r.headers["x-event-id"] for r in receiver.received]
    assert len(set(ids)) == 3 and set(ids[3:]) == set(ids[:3])
