"""The floor app: the least an HTTP service can do per transfer request with the same statements.

    granian --interface asgi --factory floor_app:create   (env: FLOOR_CAPTURE, FLOOR_DSN,
                                                           FLOOR_SECRET_KEY, FLOOR_POOL_SIZE)

Litestar, raw asyncpg, msgspec and PyJWT, no domain layer: ``POST /api/v1/wallet/transactions``
and ``POST /api/v1/wallet/transactions/{id}/action`` each verify the bearer token (verified
tokens remembered per process, as the service does), decode the body, send the captured read,
check the one thing the write's guards would refuse anyway (funds, the recipient, pending), and
send the captured write with this request's values (see ``statements.Template``): a read and a
write per request, like the service. It is what the service's money path is measured against.
"""

from __future__ import annotations

import os
import secrets
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import jwt
import msgspec
from litestar import Litestar, Request, Response, post
from litestar.params import FromPath
from uuid_utils.compat import uuid7

from statements import CAPTURE_AMOUNT, CAPTURE_KEYS, Capture, Template, load


class NewTransfer(msgspec.Struct):
    type: str
    amount: str
    recipient: str


class Action(msgspec.Struct):
    action: str


class Created(msgspec.Struct):
    id: str
    type: str
    status: str
    amount: str
    reference: str
    wallet_id: str
    counterparty_wallet_id: str
    created_at: datetime


_ALPHABET = string.ascii_uppercase + string.digits
_decode_new = msgspec.json.Decoder(NewTransfer)
_decode_action = msgspec.json.Decoder(Action)
_encode = msgspec.json.Encoder()


def _problem(status: int, detail: str) -> Response[bytes]:
    body = _encode.encode({"status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json")


class Floor:
    def __init__(self, capture: Capture, dsn: str, secret_key: str, pool_size: int) -> None:
        self.capture = capture
        self.dsn, self.secret_key, self.pool_size = dsn, secret_key, pool_size
        self.pool: asyncpg.Pool | None = None
        self.verified: dict[str, tuple[UUID, int]] = {}
        reads_and_writes = capture.statements
        strings = {
            capture.sender["username"],
            capture.recipient["username"],
            capture.reference,
            *CAPTURE_KEYS,
        }
        ints = {CAPTURE_AMOUNT, -CAPTURE_AMOUNT}
        self.parties_sql = reads_and_writes[0].sql
        self.create = Template(reads_and_writes[1], strings, ints)
        self.transaction_sql = reads_and_writes[2].sql
        self.accept = Template(reads_and_writes[3], strings, ints)

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=0, max_size=self.pool_size, server_settings={}
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def user(self, request: Request[Any, Any, Any]) -> UUID | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        found = self.verified.get(token)
        if found is None:
            try:
                claims = jwt.decode(token, self.secret_key, algorithms=["HS256"])
            except jwt.PyJWTError:
                return None
            found = self.verified[token] = (UUID(claims["sub"]), int(claims["exp"]))
        user, expires = found
        return user if expires > datetime.now(UTC).timestamp() else None

    def people(self, sender: Any, recipient: Any) -> tuple[dict[UUID, UUID], dict[str, str]]:
        """The captured people's ids and names -> this request's (from two account rows)."""
        c = self.capture
        uuids = {
            UUID(c.sender["id"]): sender["owner_id"],
            UUID(c.sender["wallet_id"]): sender["id"],
            UUID(c.recipient["id"]): recipient["owner_id"],
            UUID(c.recipient["wallet_id"]): recipient["id"],
        }
        names = {
            c.sender["username"]: sender["owner_username"],
            c.recipient["username"]: recipient["owner_username"],
        }
        return uuids, names

    async def create_transfer(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        user = self.user(request)
        if user is None:
            return _problem(401, "Authentication required.")
        try:
            body = _decode_new.decode(await request.body())
            recipient_wallet = UUID(body.recipient)
        except (msgspec.DecodeError, ValueError):
            return _problem(400, "Invalid body.")
        amount = round(float(body.amount) * 100)
        key = request.headers.get("idempotency-key", secrets.token_hex(16))
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(self.parties_sql, user, recipient_wallet, None, None)
            sender = next((r["account"] for r in rows if r["role"] == "s"), None)
            recipient = next((r["account"] for r in rows if r["role"] == "n"), None)
            if sender is None or recipient is None or recipient["kind"] != "wallet":
                return _problem(422, "No such recipient.")
            available = (
                sender["credits_posted"] - sender["debits_posted"] - sender["debits_pending"]
            )
            if available < amount:
                return _problem(422, "Insufficient funds.")
            uuids, names = self.people(sender, recipient)
            now = datetime.now(UTC)
            transaction_id = uuid7()
            uuids[self.capture.transaction_id] = transaction_id
            reference = "TRF-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))
            answer = _encode.encode(
                Created(
                    str(transaction_id),
                    "transfer",
                    "pending",
                    body.amount,
                    reference,
                    str(sender["id"]),
                    str(recipient_wallet),
                    now,
                )
            )
            args = self.create.bind(
                uuids,
                uuid7,
                now,
                strings={**names, self.capture.reference: reference, CAPTURE_KEYS[0]: key},
                ints={CAPTURE_AMOUNT: amount, -CAPTURE_AMOUNT: -amount},
                blob=answer,
            )
            written = await conn.fetchrow(self.create.statement.sql, *args)
        if written is None or not written["applied"]:
            return _problem(409, "Refused.")
        return Response(answer, status_code=201, media_type="application/json")

    async def act(self, request: Request[Any, Any, Any], transaction_id: UUID) -> Response[bytes]:
        user = self.user(request)
        if user is None:
            return _problem(401, "Authentication required.")
        try:
            body = _decode_action.decode(await request.body())
        except msgspec.DecodeError:
            return _problem(400, "Invalid body.")
        if body.action != "accept":
            return _problem(400, "Only accept is supported here.")
        key = request.headers.get("idempotency-key", secrets.token_hex(16))
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(self.transaction_sql, transaction_id)
            if row is None or row["credit"]["owner_id"] != user:
                return _problem(404, "No such transaction.")
            transaction = row["transaction"]
            if transaction["status"] != "pending":
                return _problem(409, "Not pending.")
            uuids, names = self.people(row["debit"], row["credit"])
            uuids[self.capture.transaction_id] = transaction_id
            amount = transaction["amount"]
            answer = _encode.encode({"id": str(transaction_id), "status": "completed"})
            args = self.accept.bind(
                uuids,
                uuid7,
                datetime.now(UTC),
                strings={**names, CAPTURE_KEYS[1]: key},
                ints={CAPTURE_AMOUNT: amount, -CAPTURE_AMOUNT: -amount},
                blob=answer,
            )
            written = await conn.fetchrow(self.accept.statement.sql, *args)
        if written is None or not written["applied"]:
            return _problem(409, "Refused.")
        return Response(answer, status_code=200, media_type="application/json")


def create() -> Litestar:
    floor = Floor(
        load(Path(os.environ["FLOOR_CAPTURE"])),
        os.environ["FLOOR_DSN"],
        os.environ["FLOOR_SECRET_KEY"],
        int(os.environ.get("FLOOR_POOL_SIZE", "10")),
    )

    @post("/api/v1/wallet/transactions")
    async def create_transfer(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await floor.create_transfer(request)

    @post("/api/v1/wallet/transactions/{transaction_id:uuid}/action")
    async def act(
        request: Request[Any, Any, Any], transaction_id: FromPath[UUID]
    ) -> Response[bytes]:
        return await floor.act(request, transaction_id)

    return Litestar(
        [create_transfer, act], on_startup=[floor.start], on_shutdown=[floor.stop], debug=False
    )
