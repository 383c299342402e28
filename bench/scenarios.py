"""Benchmark operations. Each factory is importable in a spawned process and returns an
``Operation``: one logical step (e.g. create a transfer and accept it) on one connection."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from pathlib import Path
from typing import Any

from loadgen import Connection, Operation


def _load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def live() -> Operation:
    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        status, _ = await conn.request("GET", "/health/live")
        return [(status, 0.0)]

    return op


def transfers(data_file: str, hot: bool = False) -> Operation:
    """Create a transfer and have the recipient accept it (two requests, one operation)."""
    data = _load(data_file)
    users = data["users"]
    hot_user = data["hot"]

    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        sender = hot_user if hot else rng.choice(users)
        recipient = rng.choice(users)
        while recipient["id"] == sender["id"]:
            recipient = rng.choice(users)
        body = json.dumps(
            {"type": "transfer", "amount": "0.01", "recipient": recipient["wallet_id"]}
        ).encode()
        status, payload = await conn.request(
            "POST",
            "/api/v1/wallet/transactions",
            {
                "Authorization": f"Bearer {sender['token']}",
                "Idempotency-Key": f"b{n}-{time.time_ns()}",
            },
            body,
        )
        if status != 201:
            return [(status, 0.0)]
        transaction_id = json.loads(payload)["id"]
        accepted, _ = await conn.request(
            "POST",
            f"/api/v1/wallet/transactions/{transaction_id}/action",
            {
                "Authorization": f"Bearer {recipient['token']}",
                "Idempotency-Key": f"a{n}-{time.time_ns()}",
            },
            b'{"action":"accept"}',
        )
        return [(status, 0.0), (accepted, 0.0)]

    return op


def paysend(data_file: str) -> Operation:
    data = _load(data_file)
    users, secret = data["users"], data["paysend_secret"].encode()

    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        user = rng.choice(users)
        body = json.dumps(
            {
                "transactionId": f"bench-{n}-{time.time_ns()}",
                "status": "COMPLETED",
                "recipient": {"phone_number": user["phone"], "amount": "1.00"},
            }
        ).encode()
        signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
        status, _ = await conn.request(
            "POST", "/api/v1/wallet/webhook/paysend", {"X-Paysend-Signature": signature}, body
        )
        return [(status, 0.0)]

    return op


def transactions(data_file: str, mode: str) -> Operation:
    """``GET /wallet/transactions`` on the heavy wallet: cached, uncached, deep page, keyset."""
    data = _load(data_file)
    heavy = data["heavy"]
    headers = {"Authorization": f"Bearer {heavy['token']}"}

    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        # A parameter the API ignores makes every URL new to the cache without changing the query.
        bust = f"nocache={n}"
        if mode == "cached":
            path = "/api/v1/wallet/transactions?page_size=10"
        elif mode == "uncached":
            path = f"/api/v1/wallet/transactions?page_size=10&{bust}"
        elif mode == "page1000":
            path = f"/api/v1/wallet/transactions?page=1000&page_size=10&{bust}"
        else:
            path = f"/api/v1/wallet/transactions?page_size=10&cursor={heavy['cursor']}&{bust}"
        status, _ = await conn.request("GET", path, headers)
        return [(status, 0.0)]

    return op


def login(data_file: str) -> Operation:
    data = _load(data_file)
    body = json.dumps(
        {"email": data["login"]["email"], "password": data["login"]["password"]}
    ).encode()

    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        status, _ = await conn.request("POST", "/api/v1/auth/token", {}, body)
        return [(status, 0.0)]

    return op


def me(data_file: str) -> Operation:
    """An authenticated read: token check, rate limit, one user lookup."""
    data = _load(data_file)
    users = data["users"]

    async def op(conn: Connection, rng: random.Random, n: int) -> list[tuple[int, float]]:
        user = users[n % len(users)]
        status, _ = await conn.request(
            "GET", "/api/v1/users/me", {"Authorization": f"Bearer {user['token']}"}
        )
        return [(status, 0.0)]

    return op
