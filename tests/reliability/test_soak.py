"""Soak: many concurrent clients doing everything a wallet does, for a while.

``SOAK_CLIENTS`` simulated clients (default 12) run for ``SOAK_SECONDS`` (default 20; set it higher
for the long run) against the app over HTTP (httpx over ASGI, the real middleware stack, PostgreSQL
and a private Redis): registrations, signed Paysend deposits (some replayed, some not completed),
transfers (some replayed with their key, some overdrawn, some to oneself), accepts, rejects,
cancels, cash-outs and ATM verifications with right, wrong and stale codes.

Every response must be the one the client's model predicts (a race between two parties allows
either winner, never both), never a 5xx. The model (what the accepted operations imply) is updated
the moment a response arrives. At the end, ``wallet audit`` is clean and every wallet the API shows
(balance, available, held, pending incoming) equals the model. The rate and the mix are printed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from faults import private_redis

from databases import create_database, drop_database
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.http.webhooks.signatures import sign
from entrypoints.settings import load_settings
from environment import ATM_SECRET, WEBHOOK_SECRET, app_environment
from support import PASSWORD, new_name, new_phone
from wallet_core.local import MemoryNotifier

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))
SOAK_CLIENTS = int(os.environ.get("SOAK_CLIENTS", "12"))
SOAK_SEED = int(os.environ.get("SOAK_SEED", str(random.randrange(1 << 30))))
MAX_PERSONS_PER_CLIENT = 4
MAX_CODE_ATTEMPTS = 5

TX = "/api/v1/wallet/transactions"
PAYSEND = "/api/v1/wallet/webhook/paysend"
CASHOUT = "/api/v1/wallet/webhook/cashout"

#: The mix: operation -> weight.
MIX = {
    "register": 1,
    "deposit": 8,
    "transfer": 14,
    "accept": 6,
    "reject": 3,
    "cancel": 3,
    "cashout": 4,
    "atm_right": 3,
    "atm_wrong": 2,
    "read": 4,
}


def fmt(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def minor(text: str) -> int:
    units, _, fraction = text.partition(".")
    return int(units) * 100 + int(fraction.ljust(2, "0"))


@dataclass(eq=False)
class Person:
    id: str
    username: str
    phone: str
    wallet_id: str
    token: str
    # The model of this person's wallet: integer minor units.
    balance: int = 0
    held: int = 0
    incoming: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(eq=False)
class Transaction:
    id: str
    sender: Person
    recipient: Person
    amount: int
    status: str = "pending"


@dataclass(eq=False)
class CashOut:
    id: str
    owner: Person
    amount: int
    code: str
    attempts: int = 0
    status: str = "pending"


@dataclass
class World:
    """The clients' shared view of who exists and what is pending; each client owns its people."""

    http: httpx.AsyncClient
    people: list[Person] = field(default_factory=list)
    pending: list[Transaction] = field(default_factory=list)
    cashouts: list[CashOut] = field(default_factory=list)
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: int = 0
    deposits: dict[str, tuple[Person, int, str]] = field(default_factory=dict)

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        self.requests += 1
        assert response.status_code < 500, (method, url, response.status_code, response.text)
        return response

    # Transitions of the model, each checked to happen once.

    def finish(self, transaction: Transaction, status: str) -> None:
        assert transaction.status == "pending", f"{transaction.id} changed state twice"
        transaction.status = status
        self.pending.remove(transaction)
        transaction.sender.held -= transaction.amount
        transaction.recipient.incoming -= transaction.amount
        if status == "completed":
            transaction.sender.balance -= transaction.amount
            transaction.recipient.balance += transaction.amount

    def close_cashout(self, cashout: CashOut, status: str) -> None:
        assert cashout.status == "pending", f"{cashout.id} changed state twice"
        cashout.status = status
        cashout.owner.held -= cashout.amount
        if status == "completed":
            cashout.owner.balance -= cashout.amount


def expect(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


class Client:
    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.people: list[Person] = []

    def mine(self) -> Person:
        return self.rng.choice(self.people)

    async def register(self) -> Person | None:
        if self.people and len(self.people) >= MAX_PERSONS_PER_CLIENT:
            return None
        w = self.world
        username = new_name("soak")
        body = {
            "email": f"{username}@example.com",
            "username": username,
            "password": PASSWORD,
            "phone_number": new_phone(),
        }
        created = expect(await w.call("POST", "/api/v1/auth/register", json=body), 201)
        token = expect(
            await w.call(
                "POST", "/api/v1/auth/token", json={"email": body["email"], "password": PASSWORD}
            ),
            200,
        )
        person = Person(
            id=created["user"]["id"],
            username=username,
            phone=created["user"]["phone_number"],
            wallet_id=created["wallet"]["id"],
            token=token["access_token"],
        )
        self.people.append(person)
        w.people.append(person)
        return person

    async def deposit(self) -> str:
        w, person = self.world, self.mine()
        roll = self.rng.random()
        if roll < 0.1 and w.deposits:
            provider_id = self.rng.choice(sorted(w.deposits))
            who, amount, transaction_id = w.deposits[provider_id]
            body = {
                "transactionId": provider_id,
                "status": "COMPLETED",
                "recipient": {"phone_number": who.phone, "amount": fmt(amount)},
            }
            replay = expect(await self._paysend(body), 200)
            assert replay == {"status": "processed", "transaction_id": transaction_id}
            return "deposit_replayed"
        amount = self.rng.randint(100, 5000)
        provider_id = f"ps-{uuid.uuid4().hex}"
        status = "FAILED" if roll > 0.95 else "COMPLETED"
        body = {
            "transactionId": provider_id,
            "status": status,
            "recipient": {"phone_number": person.phone, "amount": fmt(amount)},
        }
        answer = expect(await self._paysend(body), 200)
        if status != "COMPLETED":
            assert answer == {"status": "ignored"}
            return "deposit_ignored"
        assert answer["status"] == "processed"
        person.balance += amount
        w.deposits[provider_id] = (person, amount, answer["transaction_id"])
        return "deposit"

    async def _paysend(self, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body).encode()
        signature = sign(raw, WEBHOOK_SECRET)
        header = self.rng.choice(["X-Signature", "X-Paysend-Signature"])
        headers = {"Content-Type": "application/json", header: signature[header]}
        return await self.world.call("POST", PAYSEND, content=raw, headers=headers)

    async def transaction(self) -> str:
        w, sender = self.world, self.mine()
        others = [p for p in w.people if p is not sender]
        recipient = self.rng.choice(others)
        target = self.rng.choice([recipient.username, recipient.phone, recipient.wallet_id])
        roll = self.rng.random()
        if roll < 0.05:
            body = {"type": "transfer", "amount": "1.00", "recipient": sender.wallet_id}
            response = await w.call("POST", TX, json=body, headers=self._keyed(sender))
            expect(response, 422, "same_wallet")
            return "transfer_to_self"
        if roll < 0.12 or sender.available <= 0:
            # More than the wallet could have even if every pending credit landed now.
            amount = sender.balance + sender.incoming + self.rng.randint(1, 10_000)
            body = {"type": "transfer", "amount": fmt(amount), "recipient": target}
            response = await w.call("POST", TX, json=body, headers=self._keyed(sender))
            expect(response, 422, "insufficient_funds")
            return "transfer_overdrawn"
        amount = self.rng.randint(1, min(sender.available, 2000))
        body = {
            "type": "transfer",
            "amount": fmt(amount),
            "recipient": target,
            "description": f"soak {self.rng.randint(0, 10**6)}",
        }
        headers = self._keyed(sender)
        created = expect(await w.call("POST", TX, json=body, headers=headers), 201)
        assert created["status"] == "pending"
        assert created["recipient"]["user_id"] == recipient.id
        transaction = Transaction(created["id"], sender, recipient, amount)
        sender.held += amount
        recipient.incoming += amount
        w.pending.append(transaction)
        if self.rng.random() < 0.1:
            replay = await w.call("POST", TX, json=body, headers=headers)
            assert replay.status_code == 201
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == created
            return "transfer_replayed"
        return "transfer"

    def _keyed(self, person: Person) -> dict[str, str]:
        return {**person.headers, "Idempotency-Key": uuid.uuid4().hex}

    async def act(self, action: str) -> str | None:
        w = self.world
        if action == "cancel":
            options = [t for t in w.pending if t.sender in self.people]
            candidates = [c for c in w.cashouts if c.owner in self.people and c.status == "pending"]
            if candidates and (not options or self.rng.random() < 0.3):
                return await self.cancel_cashout(self.rng.choice(candidates))
        else:
            options = [t for t in w.pending if t.recipient in self.people]
        if not options:
            return None
        transaction = self.rng.choice(options)
        actor = transaction.sender if action == "cancel" else transaction.recipient
        response = await w.call(
            "POST",
            f"{TX}/{transaction.id}/action",
            json={"action": action},
            headers=self._keyed(actor),
        )
        if response.status_code == 409:  # the other party got there first
            expect(response, 409, "not_pending")
            return f"{action}_lost_race"
        done = expect(response, 200)
        status = {"accept": "completed", "reject": "rejected", "cancel": "cancelled"}[action]
        assert done["status"] == status
        w.finish(transaction, status)
        return action

    async def cashout(self) -> str | None:
        w, person = self.world, self.mine()
        if person.available <= 0:
            return None
        amount = self.rng.randint(1, min(person.available, 3000))
        body = {"type": "withdrawal", "amount": fmt(amount)}
        created = expect(await w.call("POST", TX, json=body, headers=self._keyed(person)), 201)
        assert created["status"] == "pending"
        person.held += amount
        w.cashouts.append(CashOut(created["id"], person, amount, created["withdrawal_code"]))
        return "cashout"

    async def cancel_cashout(self, cashout: CashOut) -> str:
        w = self.world
        response = await w.call(
            "POST",
            f"{TX}/{cashout.id}/action",
            json={"action": "cancel"},
            headers=self._keyed(cashout.owner),
        )
        assert expect(response, 200)["status"] == "cancelled"
        w.close_cashout(cashout, "cancelled")
        return "cancel_cashout"

    async def atm(self, right: bool) -> str | None:
        w = self.world
        mine = [c for c in w.cashouts if c.owner in self.people]
        if not mine:
            return None
        cashout = self.rng.choice(mine)
        code = (
            cashout.code if right else ("2" if cashout.code[0] != "2" else "3") + cashout.code[1:]
        )
        raw = json.dumps({"phone_number": cashout.owner.phone, "withdrawal_code": code}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Signature": sign(raw, ATM_SECRET)["X-Signature"],
        }
        response = await w.call("POST", CASHOUT, content=raw, headers=headers)
        if right and cashout.status != "pending":
            expect(response, 409, "not_pending")
            return "atm_stale_code"
        if right:
            approved = expect(response, 200)
            assert approved == {
                "status": "approved",
                "amount": fmt(cashout.amount),
                "currency": "USD",
                "transaction_id": cashout.id,
            }
            w.close_cashout(cashout, "completed")
            return "atm_right"
        # A wrong code counts against every pending cash-out of that person.
        live = [c for c in w.cashouts if c.owner is cashout.owner and c.status == "pending"]
        doomed = []
        for each in live:
            each.attempts += 1
            if each.attempts >= MAX_CODE_ATTEMPTS:
                doomed.append(each)
        for each in doomed:
            w.close_cashout(each, "cancelled")
        expect(response, 422, "too_many_attempts" if doomed else "invalid_withdrawal_code")
        return "atm_too_many" if doomed else "atm_wrong"

    async def read(self) -> str:
        w, person = self.world, self.mine()
        if self.rng.random() < 0.5:
            expect(
                await w.call("GET", f"/api/v1/wallet/{person.wallet_id}", headers=person.headers),
                200,
            )
            return "read_wallet"
        listed = expect(
            await w.call("GET", TX, params={"page_size": 20}, headers=person.headers), 200
        )
        assert listed["count"] is None or listed["count"] >= 0
        return "read_list"

    async def step(self) -> str | None:
        op = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        match op:
            case "register":
                return "register" if await self.register() else None
            case "deposit":
                return await self.deposit()
            case "transfer":
                return await self.transaction()
            case "accept" | "reject" | "cancel":
                return await self.act(op)
            case "cashout":
                return await self.cashout()
            case "atm_right" | "atm_wrong":
                return await self.atm(op == "atm_right")
            case _:
                return await self.read()

    async def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            outcome = await self.step()
            if outcome is not None:
                self.world.operations[outcome] += 1


@pytest.fixture(scope="module")
async def soak_database() -> AsyncIterator[str]:
    url = await create_database("wallet_soak")
    yield url
    await drop_database(url)


@pytest.fixture
async def soak_app(soak_database: str) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    async with private_redis() as redis:
        env = app_environment(
            DATABASE_URL=soak_database, REDIS_URL=f"redis://127.0.0.1:{redis.port}/0"
        )
        settings = load_settings(env, env_file=None)
        container = build(settings, notifier=MemoryNotifier())
        app = create_app(settings, container, run_background_jobs=False)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=60
            ) as http:
                yield http, container
        finally:
            await container.close()


async def test_soak(soak_app: tuple[httpx.AsyncClient, Container], soak_database: str) -> None:
    http, _ = soak_app
    world = World(http)
    clients = [Client(world, SOAK_SEED + n) for n in range(SOAK_CLIENTS)]
    for client in clients:
        await client.register()
        await client.register()

    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for client in clients:
            group.create_task(client.run(started + SOAK_SECONDS))
    elapsed = time.monotonic() - started

    # Every wallet the API shows is what the clients' models say.
    for person in world.people:
        wallet = expect(
            await world.call("GET", f"/api/v1/wallet/{person.wallet_id}", headers=person.headers),
            200,
        )
        seen = (
            minor(wallet["balance"]),
            minor(wallet["available_balance"]),
            minor(wallet["held_balance"]),
            minor(wallet["pending_incoming"]),
        )
        expected = (person.balance, person.available, person.held, person.incoming)
        assert seen == expected, (person.username, seen, expected)
        assert person.available >= 0

    # And the ledger agrees with itself: `wallet audit` from the command line.
    env = {
        **os.environ,
        **app_environment(DATABASE_URL=soak_database, REDIS_URL="", LOG_LEVEL="warning"),
    }
    audit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli",
        "audit",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(audit.communicate(), timeout=120)
    assert audit.returncode == 0, output.decode()

    total = sum(world.operations.values())
    assert total > 0
    mix = ", ".join(f"{name}={count}" for name, count in world.operations.most_common())
    print(
        f"\nsoak: {SOAK_CLIENTS} clients, {elapsed:.1f} s, seed {SOAK_SEED}: {total} operations "
        f"({total / elapsed:.1f}/s), {world.requests} requests ({world.requests / elapsed:.1f}/s), "
        f"{len(world.people)} people, {len(world.deposits)} deposits\nmix: {mix}\n"
        f"audit: {output.decode().strip()}"
    )
    # Enough of each kind happened for the run to mean something.
    for kind in ("deposit", "transfer", "accept", "cashout", "atm_right", "atm_wrong"):
        assert world.operations[kind] > 0, (kind, mix)
