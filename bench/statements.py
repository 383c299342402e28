"""The exact statements the service sends for one transfer pair (create + accept), captured from a
real request, and how to send them again with other values.

``capture`` runs the production app in-process against a seeded database and records every call
the PostgreSQL ledger makes (SQL text and arguments, as asyncpg receives them): for a pair that is
four statements, a read and a write per request. The capture is saved as JSON (``dump``/``load``)
and replayed two ways: as a pgbench script (``floor_sql``) and by a thin app (``floor_app``),
both sending the same statements with values rebound to other people, new ids and the current
time (``Template``).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

#: The amount of the captured pair, in minor units: a value no count or flag in a write takes.
CAPTURE_AMOUNT = 7
CAPTURE_KEYS = ("capture-create", "capture-accept")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PARAMETER = re.compile(r"\$(\d+)::([a-z]+(?:\[\])?)")


@dataclass
class Statement:
    sql: str
    args: list[Any]

    @property
    def casts(self) -> dict[int, str]:
        """Each parameter's type, as the statement casts it (``$3::uuid[]``)."""
        return {int(n): cast for n, cast in PARAMETER.findall(self.sql)}

    @property
    def now(self) -> datetime | None:
        """The request's clock: the first timestamp the statement carries (a write's receipt)."""
        return next((a for a in self.args if isinstance(a, datetime)), None)


@dataclass
class Capture:
    """One pair's four statements and who took part in it."""

    sender: dict[str, str]  # id, wallet_id, username
    recipient: dict[str, str]
    reference: str
    transaction_id: UUID
    statements: list[Statement] = field(default_factory=list)

    def known_uuids(self) -> dict[UUID, str]:
        """The ids that name people and wallets (the rest are new in the pair)."""
        return {
            UUID(self.sender["id"]): "sender.user_id",
            UUID(self.sender["wallet_id"]): "sender.wallet_id",
            UUID(self.recipient["id"]): "recipient.user_id",
            UUID(self.recipient["wallet_id"]): "recipient.wallet_id",
        }


def _encode(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, UUID):
        return {"uuid": str(value)}
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        ((kind, text),) = value.items()
        return {"uuid": UUID, "ts": datetime.fromisoformat, "bytes": bytes.fromhex}[kind](text)
    return value


def dump(capture: Capture, path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "sender": capture.sender,
                "recipient": capture.recipient,
                "reference": capture.reference,
                "transaction_id": str(capture.transaction_id),
                "statements": [{"sql": s.sql, "args": _encode(s.args)} for s in capture.statements],
            }
        )
    )


def load(path: Path) -> Capture:
    raw = json.loads(path.read_text())
    return Capture(
        raw["sender"],
        raw["recipient"],
        raw["reference"],
        UUID(raw["transaction_id"]),
        [Statement(s["sql"], _decode(s["args"])) for s in raw["statements"]],
    )


class Template:
    """A captured statement's arguments with some values swapped: ids (a mapping, and a fresh id
    for every id it does not name), strings, integers (the amount), timestamps (shifted by the
    distance between the capture's clock and now) and the receipt's bytes."""

    def __init__(self, statement: Statement, strings: set[str], ints: set[int]) -> None:
        self.statement = statement
        self._strings, self._ints = strings, ints
        self._variable = [self._varies(a) for a in statement.args]

    def _varies(self, value: Any) -> bool:
        if isinstance(value, list):
            return any(self._varies(v) for v in value)
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, int):
            return value in self._ints
        if isinstance(value, str):
            return value in self._strings or UUID_TEXT.search(value) is not None
        return isinstance(value, UUID | datetime | bytes)

    def bind(
        self,
        uuids: dict[UUID, UUID],
        fresh: Callable[[], UUID],
        now: datetime,
        *,
        strings: dict[str, str],
        ints: dict[int, int],
        blob: bytes | None = None,
    ) -> list[Any]:
        """The arguments for another request. ``uuids`` gains the fresh ids it handed out, so
        the same captured id gets the same new one throughout (and in the next statement)."""
        reference = self.statement.now
        shift = now - reference if reference is not None else timedelta(0)

        def uuid(old: UUID) -> UUID:
            new = uuids.get(old)
            if new is None:
                new = uuids[old] = fresh()
            return new

        def swap(v: Any) -> Any:
            if isinstance(v, list):
                return [swap(x) for x in v]
            if v is None or isinstance(v, bool):
                return v
            if isinstance(v, UUID):
                return uuid(v)
            if isinstance(v, datetime):
                return v + shift
            if isinstance(v, int):
                return ints.get(v, v)
            if isinstance(v, str):
                if v in strings:
                    return strings[v]
                return UUID_TEXT.sub(lambda m: str(uuid(UUID(m[0]))), v)
            if isinstance(v, bytes):
                return v if blob is None else blob
            return v

        return [
            swap(a) if varies else a
            for a, varies in zip(self.statement.args, self._variable, strict=True)
        ]


async def capture(url: str, redis_url: str, secret_key: str, data: dict[str, Any]) -> Capture:
    """One create + accept between the first two seeded people, through the real app (in-process
    over ASGI), recording what the PostgreSQL ledger sends."""
    import httpx

    from adapters.sql.pg_ledger import AsyncpgLedger
    from entrypoints.bootstrap import build
    from entrypoints.http.app import create_app
    from entrypoints.settings import load_settings
    from wallet_core.local import MemoryNotifier

    settings = load_settings(
        {
            "ENV": "test",
            "SECRET_KEY": secret_key,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "memory",
            "LOG_LEVEL": "warning",
            "RATE_LIMIT_ENABLED": "false",
        },
        env_file=None,
    )
    container = build(settings, notifier=MemoryNotifier())
    container.start()  # session marks by Redis, as in a served process
    app = create_app(settings, container, run_background_jobs=False)
    sender, recipient = data["users"][0], data["users"][1]
    recorded: list[Statement] = []
    original = AsyncpgLedger._fetch

    async def recording(self: AsyncpgLedger, sql: str, *args: Any) -> list[Any]:
        recorded.append(Statement(sql, list(args)))
        return await original(self, sql, *args)

    amount = f"{CAPTURE_AMOUNT / 100:.2f}"
    AsyncpgLedger._fetch = recording  # type: ignore[method-assign]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            created = await client.post(
                "/api/v1/wallet/transactions",
                json={"type": "transfer", "amount": amount, "recipient": recipient["wallet_id"]},
                headers={
                    "Authorization": f"Bearer {sender['token']}",
                    "Idempotency-Key": CAPTURE_KEYS[0],
                },
            )
            assert created.status_code == 201, created.text
            transaction = created.json()
            accepted = await client.post(
                f"/api/v1/wallet/transactions/{transaction['id']}/action",
                json={"action": "accept"},
                headers={
                    "Authorization": f"Bearer {recipient['token']}",
                    "Idempotency-Key": CAPTURE_KEYS[1],
                },
            )
            assert accepted.status_code == 200, accepted.text
    finally:
        AsyncpgLedger._fetch = original  # type: ignore[method-assign]
        await container.close()
    if len(recorded) != 4:
        raise RuntimeError(f"a pair sent {len(recorded)} statements, expected 4 (read + write x2)")

    def person(p: dict[str, Any]) -> dict[str, str]:
        return {"id": p["id"], "wallet_id": p["wallet_id"], "username": p["username"]}

    return Capture(
        person(sender),
        person(recipient),
        transaction["reference"],
        UUID(transaction["id"]),
        recorded,
    )
