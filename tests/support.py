"""Test helpers for HTTP-level tests: people with tokens, money in their wallets, keys."""

from __future__ import annotations

import itertools
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from entrypoints.bootstrap import Container
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

PASSWORD = "correct horse battery staple"
_phones = itertools.count(random.randint(2_000_000_000, 8_000_000_000))


LEAK_MARKERS = ("Traceback", "asyncpg", "sqlalchemy", "SQLSTATE", "syntax error at or near")


def assert_no_leak(response: httpx.Response) -> None:
    """No stack trace, driver or SQL text ever reaches a client."""
    for marker in LEAK_MARKERS:
        assert marker not in response.text, (marker, response.text[:500])


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> Any:
    """An RFC 9457 problem with this status (and code), carrying this request's id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    if "idempotent-replayed" not in response.headers:  # a replay carries the first request's id
        assert body["request_id"] == response.headers["x-request-id"]
    assert_no_leak(response)
    return body


def new_phone() -> str:
    return f"+1{next(_phones)}"


def new_name(prefix: str = "u") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def idem(**extra: str) -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex, **extra}


@dataclass
class Person:
    id: str
    username: str
    email: str
    phone_number: str
    wallet_id: str
    access_token: str
    refresh_token: str
    is_staff: bool = False
    wallets: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    @property
    def actor(self) -> Actor:
        return Actor(uuid.UUID(self.id), self.is_staff, self.email)


class Api:
    """Short, readable steps for tests: ``await api.person()``, ``await api.fund(p, "10.00")``."""

    def __init__(self, client: httpx.AsyncClient, container: Container) -> None:
        self.client = client
        self.container = container
        self._staff: Person | None = None

    async def person(self, currency: str | None = None, **fields: Any) -> Person:
        username = fields.pop("username", new_name())
        body = {
            "email": fields.pop("email", f"{username}@example.com"),
            "username": username,
            "password": PASSWORD,
            "phone_number": fields.pop("phone_number", new_phone()),
            **fields,
        }
        if currency:
            body["currency"] = currency
        response = await self.client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        return await self._login(
            created["user"], created["wallet"]["id"], created["wallet"]["currency"]
        )

    async def _login(self, user: dict[str, Any], wallet_id: str, currency: str) -> Person:
        response = await self.client.post(
            "/api/v1/auth/token", json={"email": user["email"], "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        return Person(
            id=user["id"],
            username=user["username"],
            email=user["email"],
            phone_number=user["phone_number"],
            wallet_id=wallet_id,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            is_staff=user["is_staff"],
            wallets={currency: wallet_id},
        )

    async def staff(self) -> Person:
        if self._staff is None:
            username = new_name("staff")
            user, wallet = await self.container.core.auth.register(
                Registration(
                    email=f"{username}@example.com",
                    username=username,
                    password=PASSWORD,
                    phone_number=new_phone(),
                    is_staff=True,
                )
            )
            self._staff = await self._login(
                {
                    "id": str(user.id),
                    "username": user.username,
                    "email": user.email,
                    "phone_number": user.phone_number,
                    "is_staff": True,
                },
                str(wallet.id),
                wallet.currency,
            )
        return self._staff

    async def open_wallet(self, person: Person, currency: str) -> str:
        response = await self.client.post(
            "/api/v1/wallet", json={"currency": currency}, headers=person.headers
        )
        assert response.status_code == 201, response.text
        person.wallets[currency] = response.json()["id"]
        return str(response.json()["id"])

    async def fund(
        self, person: Person, amount: str, wallet_id: str | None = None
    ) -> dict[str, Any]:
        """A staff manual deposit into the person's (first) wallet."""
        staff = await self.staff()
        response = await self.client.post(
            "/api/v1/wallet/transactions",
            json={
                "type": "deposit",
                "amount": amount,
                "wallet_id": wallet_id or person.wallet_id,
                "funding_source": "manual",
                "description": "test funding",
            },
            headers={**staff.headers, **idem()},
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def wallet(self, person: Person, wallet_id: str | None = None) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/wallet/{wallet_id or person.wallet_id}", headers=person.headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def send(
        self, sender: Person, recipient: Person | str, amount: str, **extra: Any
    ) -> httpx.Response:
        target = recipient.username if isinstance(recipient, Person) else recipient
        return await self.client.post(
            "/api/v1/wallet/transactions",
            json={"type": "transfer", "amount": amount, "recipient": target, **extra},
            headers={**sender.headers, **idem()},
        )

    async def act(self, person: Person, transaction_id: str, action: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/wallet/transactions/{transaction_id}/action",
            json={"action": action},
            headers={**person.headers, **idem()},
        )

    async def audit_clean(self) -> None:
        report = await self.container.core.audit.run()
        assert report.ok, report.problems


def request_count(metrics: str, method: str, route: str, status: str) -> int:
    """``wallet_http_requests_total`` for one label set in a Prometheus text scrape (or 0)."""
    labels = f'method="{method}",route="{route}",status="{status}"'
    pattern = re.compile(
        r"^wallet_http_requests_total\{" + re.escape(labels) + r"\} ([0-9.]+)$", re.MULTILINE
    )
    found = pattern.search(metrics)
    return int(float(found[1])) if found else 0
