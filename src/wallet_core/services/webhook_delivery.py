"""Delivering events to webhook endpoints: fan-out, lease, send, record, retry.

:meth:`WebhookDeliveryService.dispatch` turns events (in commit order, from a locked cursor)
into deliveries in one unit of work, so an event is fanned out exactly once. :meth:`claim` leases
due deliveries; :meth:`send` posts one and records the outcome. :meth:`run` does all three
forever, at most a few deliveries in flight per endpoint, so a slow or dead receiver only ever
holds up its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any
from uuid import UUID

from wallet_core.events import Event, EventSignal
from wallet_core.ports import UnitOfWork, WebhookSender
from wallet_core.services.context import Context
from wallet_core.webhooks import (
    ENDPOINT_CONCURRENCY,
    Delivery,
    DeliveryStatus,
    RetryPolicy,
    WebhookEndpoint,
    after_failure,
    after_success,
    signature,
)

DISPATCH_BATCH = 200
MAX_IN_FLIGHT = 64
USER_AGENT = "DigitalWallet-Webhooks/1"


class WebhookDeliveryService:
    def __init__(
        self,
        ctx: Context,
        sender: WebhookSender,
        policy: RetryPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._sender = sender
        self.policy = policy
        self._rng = rng or random.Random()
        self._in_flight: Counter[UUID] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Woken by events committing and by deliveries finishing (room for the next ones).
        self._wake = EventSignal()

    async def dispatch(self) -> int:
        """Fan the next events out to the endpoints that want them; how many deliveries."""
        ctx = self._ctx

        async def work(uow: UnitOfWork) -> tuple[int, int]:
            position = await uow.webhooks.lock_cursor()
            events = await uow.events.after(position, DISPATCH_BATCH)
            if not events:
                return 0, 0
            endpoints = await uow.webhooks.active_endpoints()
            staff = {}
            for user_id in {e.user_id for e in endpoints}:
                owner = await uow.users.get(user_id)
                if owner is not None and owner.is_active:
                    staff[user_id] = owner.is_staff
            now = ctx.clock.now()
            deliveries = [
                Delivery(
                    id=ctx.ids.new_id(),
                    endpoint_id=endpoint.id,
                    event_id=event.id,
                    event_type=event.type,
                    status=DeliveryStatus.PENDING,
                    created_at=now,
                    event_created_at=event.created_at,
                    next_attempt_at=now,
                )
                for event in events
                for endpoint in endpoints
                if endpoint.user_id in staff
                and endpoint.wants(event)
                and event.created_at >= endpoint.created_at
                and event.visible_to(endpoint.user_id, staff[endpoint.user_id])
            ]
            await uow.webhooks.add_deliveries(deliveries)
            last = events[-1].position
            assert last is not None
            await uow.webhooks.save_cursor(last)
            return len(events), len(deliveries)

        total = 0
        while True:
            read, made = await ctx.storage.run(work)
            total += made
            if read < DISPATCH_BATCH:
                return total

    async def claim(self, limit: int, busy: frozenset[UUID] = frozenset()) -> list[Delivery]:
        now = self._ctx.clock.now()

        async def work(uow: UnitOfWork) -> list[Delivery]:
            return await uow.webhooks.claim_due(
                now, now + self.policy.lease, limit, ENDPOINT_CONCURRENCY, busy
            )

        return await self._ctx.storage.run(work)

    def _secrets(self, endpoint: WebhookEndpoint) -> tuple[str, ...]:
        box = self._ctx.secret_box
        current = (box.open(endpoint.sealed_secret).decode(),)
        expires = endpoint.previous_secret_expires_at
        previous = endpoint.sealed_previous_secret
        if previous is not None and expires is not None and expires > self._ctx.clock.now():
            return (*current, box.open(previous).decode())
        return current

    async def send(self, delivery: Delivery) -> Delivery | None:
        """One attempt, recorded; None if the endpoint is gone (its deliveries went with it)."""
        ctx = self._ctx

        async def read(uow: UnitOfWork) -> tuple[WebhookEndpoint | None, Event | None]:
            endpoint = await uow.webhooks.get_endpoint(delivery.endpoint_id)
            return endpoint, await uow.events.get(delivery.event_id)

        endpoint, event = await ctx.storage.run_read(read)
        if endpoint is None:
            return None
        if event is None:
            done = after_failure(delivery, ctx.clock.now(), self.policy, None, "event expired")
            done = _failed(done)
        elif not endpoint.is_active:
            done = _failed(
                after_failure(delivery, ctx.clock.now(), self.policy, None, "endpoint inactive")
            )
        else:
            body = json.dumps(event.body(), separators=(",", ":")).encode()
            stamp = int(ctx.clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Event-Id": str(event.id),
                "X-Event-Type": event.type.value,
                "X-Signature": signature(self._secrets(endpoint), stamp, body),
            }
            outcome = await self._sender.post(
                endpoint.url, body, headers, self.policy.timeout_seconds
            )
            now = ctx.clock.now()
            if outcome.delivered:
                assert outcome.status_code is not None
                done = after_success(delivery, now, outcome.status_code)
            else:
                error = outcome.error or f"HTTP {outcome.status_code}"
                done = after_failure(
                    delivery, now, self.policy, outcome.status_code, error, self._rng
                )

        async def record(uow: UnitOfWork) -> None:
            await uow.webhooks.save_delivery(done)

        await ctx.storage.run(record)
        return done

    async def run_once(self) -> list[Delivery]:
        """Dispatch, then send every due delivery (tests, ``wallet`` commands)."""
        await self.dispatch()
        claimed = await self.claim(MAX_IN_FLIGHT)
        sent = await asyncio.gather(*(self.send(d) for d in claimed))
        return [d for d in sent if d is not None]

    async def _send_tracked(self, delivery: Delivery) -> None:
        try:
            await self.send(delivery)
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self._wake.notify()

    async def step(self, dispatch: bool = True) -> int:
        """One round of :meth:`run`: dispatch (unless told not to), and start what may be sent
        now."""
        if dispatch:
            await self.dispatch()
        room = MAX_IN_FLIGHT - sum(self._in_flight.values())
        if room <= 0:
            return 0
        busy = frozenset(e for e, n in self._in_flight.items() if n >= ENDPOINT_CONCURRENCY)
        claimed = await self.claim(room, busy)
        for delivery in claimed:
            self._in_flight[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._send_tracked(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    async def run(self, poll_seconds: float) -> None:
        """Forever: deliveries start within ``poll_seconds`` of their event or retry time."""
        events = self._ctx.event_signal
        loop = asyncio.get_running_loop()
        dispatched: tuple[int, float] | None = None  # (events' generation, when)
        try:
            while True:
                seen = (events.generation, self._wake.generation)
                # Fan out when events were committed since, or at the poll interval anyway.
                due = (
                    dispatched is None
                    or dispatched[0] != seen[0]
                    or loop.time() - dispatched[1] >= poll_seconds
                )
                if due:
                    dispatched = (seen[0], loop.time())
                try:
                    started = await self.step(dispatch=due)
                except Exception:  # a failed round is retried after a pause
                    started = 0
                    await asyncio.sleep(poll_seconds)
                if not started:
                    # Until events commit, a delivery finishes (room for more), or the poll.
                    await _either(
                        events.wait(poll_seconds, since=seen[0]),
                        self._wake.wait(poll_seconds, since=seen[1]),
                    )
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _either(*waits: Coroutine[Any, Any, None]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _failed(delivery: Delivery) -> Delivery:
    return replace(delivery, status=DeliveryStatus.FAILED, next_attempt_at=None)
