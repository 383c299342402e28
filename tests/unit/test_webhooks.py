"""Outgoing webhooks in the core, with a hand-written sender that records what it is asked to
send: endpoints (secret shown once, at most 10), fan-out to those who may see each event,
signatures (two during a rotation), the retry schedule on a manual clock, and manual retry."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from core_world import World, make_world

from wallet_core.errors import NotFound, TooManyEndpoints, ValidationFailed
from wallet_core.webhooks import (
    DeliveryStatus,
    RetryPolicy,
    SendOutcome,
    backoff,
)


@dataclass
class RecordingSender:
    """Answers with ``answers`` in turn (then 200), refuses URLs containing ``blocked``."""

    answers: list[SendOutcome] = field(default_factory=list)
    sent: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def check_target(self, url: str) -> str | None:
        return "private address" if "blocked" in url else None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], seconds: float
    ) -> SendOutcome:
        self.sent.append((url, body, dict(headers)))
        return self.answers.pop(0) if self.answers else SendOutcome(status_code=200)


POLICY = RetryPolicy(base=timedelta(seconds=10), window=timedelta(hours=72), timeout_seconds=5)


async def _world(sender: RecordingSender) -> World:
    return await make_world(webhook_sender=sender, webhook_retry=POLICY)


def _verify(secret: str, headers: Mapping[str, str], body: bytes) -> int:
    """How many of the signature's v1 values ``secret`` made."""
    parts = dict(p.split("=", 1) for p in headers["X-Signature"].split(",") if p.startswith("t="))
    signed = f"{parts['t']}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return [p for p in headers["X-Signature"].split(",") if p.startswith("v1=")].count(f"v1={mac}")


async def test_a_delivery_is_signed_and_carries_the_event() -> None:
    sender = RecordingSender()
    world = await _world(sender)
    alice = await world.register("alice")
    made = await world.core.webhooks.create(alice.actor, "https://hooks.example.com/a", ["*"])
    assert made.secret.startswith("whsec_") and len(made.secret) >= 38
    await world.fund(alice.wallet.id, "3.00")
    sent = await world.core.webhook_delivery.run_once()
    assert [d.status for d in sent] == [DeliveryStatus.SUCCEEDED] * 2
    url, body, headers = sender.sent[0]
    event = json.loads(body)
    assert url == "https://hooks.example.com/a"
    assert headers["X-Event-Id"] == event["id"] and headers["X-Event-Type"] == event["type"]
    assert headers["Content-Type"] == "application/json"
    assert _verify(made.secret, headers, body) == 1
    stored = await world.core.events.get(alice.actor, sent[0].event_id)
    assert {json.loads(b)["id"] for _, b, _ in sender.sent} >= {str(stored.id)}
    assert await world.core.webhook_delivery.run_once() == []  # nothing twice


async def test_endpoints_receive_what_their_owner_may_see_and_the_types_they_chose() -> None:
    sender = RecordingSender()
    world = await _world(sender)
    alice, bob = await world.register("alice"), await world.register("bob")
    staff_endpoint = await world.core.webhooks.create(world.staff, "https://s.example", ["*"])
    bob_endpoint = await world.core.webhooks.create(
        bob.actor, "https://b.example", ["transaction.completed"]
    )
    await world.fund(alice.wallet.id, "3.00")
    await world.fund(bob.wallet.id, "1.00")
    await world.core.webhook_delivery.run_once()
    by_url: dict[str, list[str]] = {}
    for url, body, _ in sender.sent:
        by_url.setdefault(url, []).append(json.loads(body)["type"])
    assert sorted(by_url["https://s.example"]) == sorted(
        ["transaction.created"] * 2 + ["transaction.completed"] * 2
    )
    assert by_url["https://b.example"] == ["transaction.completed"]
    del staff_endpoint, bob_endpoint


async def test_failures_back_off_with_jitter_until_the_window_then_fail() -> None:
    sender = RecordingSender(answers=[SendOutcome(status_code=500)] * 100)
    world = await _world(sender)
    alice = await world.register("alice")
    endpoint = await world.core.webhooks.create(
        alice.actor, "https://x.example", ["transaction.created"]
    )
    await world.fund(alice.wallet.id, "1.00")
    (first,) = await world.core.webhook_delivery.run_once()
    assert first.status is DeliveryStatus.PENDING and first.attempts == 1
    assert first.last_status_code == 500
    wait = first.next_attempt_at - world.clock.now()  # type: ignore[operator]
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=10)
    assert await world.core.webhook_delivery.run_once() == []  # not due yet
    attempts = 1
    while True:
        world.advance(hours=7)  # past any backoff (capped at 6 h)
        sent = await world.core.webhook_delivery.run_once()
        if not sent:
            break
        attempts += 1
        (latest,) = sent
        if latest.status is DeliveryStatus.FAILED:
            break
    assert latest.status is DeliveryStatus.FAILED and latest.next_attempt_at is None
    assert world.clock.now() - timedelta(hours=72) < latest.event_created_at + timedelta(hours=7)
    log = await world.core.webhooks.deliveries(alice.actor, endpoint.endpoint.id, status="failed")
    assert [d.id for d in log.items] == [latest.id] and log.items[0].attempts == attempts

    # A manual retry sends it again now, also once it failed.
    sender.answers = []
    await world.core.webhooks.retry(alice.actor, endpoint.endpoint.id, latest.id)
    (again,) = await world.core.webhook_delivery.run_once()
    assert again.status is DeliveryStatus.SUCCEEDED and again.delivered_at == world.clock.now()


def test_backoff_doubles_up_to_six_hours_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(7)
    base = timedelta(seconds=10)
    for attempts in range(1, 40):
        ceiling = min(base * 2 ** (attempts - 1), timedelta(hours=6))
        wait = backoff(attempts, base, rng)
        assert ceiling / 2 <= wait <= ceiling


async def test_rotation_signs_with_both_secrets_for_a_day() -> None:
    sender = RecordingSender()
    world = await _world(sender)
    alice = await world.register("alice")
    made = await world.core.webhooks.create(alice.actor, "https://r.example", ["*"])
    rotated = await world.core.webhooks.rotate_secret(alice.actor, made.endpoint.id)
    assert rotated.secret != made.secret
    await world.fund(alice.wallet.id, "1.00")
    await world.core.webhook_delivery.run_once()
    _, body, headers = sender.sent[-1]
    assert _verify(made.secret, headers, body) == 1 and _verify(rotated.secret, headers, body) == 1
    world.advance(hours=25)
    await world.fund(alice.wallet.id, "1.00")
    await world.core.webhook_delivery.run_once()
    _, body, headers = sender.sent[-1]
    assert _verify(made.secret, headers, body) == 0 and _verify(rotated.secret, headers, body) == 1


async def test_endpoint_limits_validation_ownership_and_deletion() -> None:
    sender = RecordingSender()
    world = await _world(sender)
    alice, bob = await world.register("alice"), await world.register("bob")
    for bad in (
        "ftp://x.example",
        "https://",
        "https://u:p@x.example",
        "https://blocked.example",
        "https://x.example:99999",
    ):
        with pytest.raises(ValidationFailed):
            await world.core.webhooks.create(alice.actor, bad, ["*"])
    with pytest.raises(ValidationFailed):
        await world.core.webhooks.create(alice.actor, "https://x.example", ["nope"])
    with pytest.raises(ValidationFailed):
        await world.core.webhooks.create(alice.actor, "https://x.example", [])
    made = [
        await world.core.webhooks.create(alice.actor, f"https://{i}.example", ["*"])
        for i in range(10)
    ]
    with pytest.raises(TooManyEndpoints):
        await world.core.webhooks.create(alice.actor, "https://11.example", ["*"])
    with pytest.raises(NotFound):
        await world.core.webhooks.get(bob.actor, made[0].endpoint.id)
    for item in made[1:]:
        await world.core.webhooks.delete(alice.actor, item.endpoint.id)
    await world.fund(alice.wallet.id, "1.00")
    await world.core.webhooks.delete(alice.actor, made[0].endpoint.id)  # pending deliveries go
    assert await world.core.webhook_delivery.run_once() == []
    assert sender.sent == []


async def test_https_only_in_production() -> None:
    world = await make_world(webhook_sender=RecordingSender(), webhook_https_only=True)
    alice = await world.register("alice")
    with pytest.raises(ValidationFailed):
        await world.core.webhooks.create(alice.actor, "http://x.example", ["*"])
    await world.core.webhooks.create(alice.actor, "https://x.example", ["*"])


async def test_the_loop_sends_the_next_deliveries_as_soon_as_room_frees_up() -> None:
    """With a poll interval far longer than the test may take, only the wake-ups (events
    committed, a delivery finished) can move the loop along."""
    import asyncio

    sender = RecordingSender()
    world = await _world(sender)
    alice = await world.register("alice")
    await world.core.webhooks.create(alice.actor, "https://l.example", ["*"])
    for _ in range(15):  # 30 events: more than one endpoint may have in flight at once
        await world.fund(alice.wallet.id, "1.00")
    running = asyncio.create_task(world.core.webhook_delivery.run(poll_seconds=3600))
    try:

        async def all_sent() -> None:
            while len(sender.sent) < 30:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(all_sent(), 10)
        await world.fund(alice.wallet.id, "1.00")  # a commit wakes it too

        async def two_more() -> None:
            while len(sender.sent) < 32:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(two_more(), 10)
    finally:
        running.cancel()
