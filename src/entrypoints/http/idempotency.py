"""Idempotency-Key over HTTP (docs/api.md "Idempotency"): the header, the request's fingerprint, and
the receipt the core stores with the first outcome, which is that outcome's status and body,
encrypted (a cash-out's receipt holds its code).

The core keeps the receipt opaque: this module seals what the client was answered, and opens it
again to answer a retry, with ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter

from entrypoints.http.problems import PROBLEM_JSON, domain_problem, encode_problem
from entrypoints.http.request_context import request_id_of
from wallet_core.errors import DomainError, IdempotencyKeyInvalid, IdempotencyKeyMissing
from wallet_core.ports import SecretBox
from wallet_core.services.idempotency import Idempotency, Replayed

T = TypeVar("T")
HEADER = "Idempotency-Key"
#: What ``validate_key`` accepts, for the OpenAPI document: 1-255 printable ASCII, no spaces.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
#: The header where it is accepted but not required (webhooks, opening a wallet).
OPTIONAL_IDEMPOTENCY_KEY = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    min_length=1,
    max_length=255,
    pattern=IDEMPOTENCY_KEY_PATTERN,
    description="Optional. 1-255 printable ASCII characters (no spaces); a retry with the same "
    "key and body gets the first outcome back.",
)
REPLAYED = "Idempotent-Replayed"
#: A receipt written before receipts were sealed: a zero byte, the status, the body in clear.
_LEGACY = 0

#: Renders a use case's result as (status, JSON-able body).
Render = Callable[[T], tuple[int, msgspec.Struct]]
Run = Callable[[Idempotency | None], Awaitable[T | Replayed]]


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(32 < ord(ch) < 127 for ch in key):
        raise IdempotencyKeyInvalid()
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Same request = same method, path and JSON body (key order and whitespace aside)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        # RecursionError: nested deeper than json can canonicalise (the framework's parser may
        # still have accepted it, e.g. inside a webhook's tolerated extra field); use the bytes.
        canonical = body.decode("utf-8", "replace")
    material = f"{method} {path.rstrip('/')}\n{canonical}"
    return hashlib.sha256(material.encode()).hexdigest()


def seal_answer(box: SecretBox, status: int, body: bytes) -> bytes:
    return box.seal(status.to_bytes(2, "big") + body)


def open_answer(box: SecretBox, receipt: bytes) -> tuple[int, bytes]:
    plain = receipt[1:] if receipt[:1] == bytes([_LEGACY]) else box.open(receipt)
    return int.from_bytes(plain[:2], "big"), plain[2:]


def _json_response(status: int, body: bytes, *, replayed: bool = False) -> Response[bytes]:
    media_type = PROBLEM_JSON if status >= 400 else "application/json"
    headers = {REPLAYED: "true"} if replayed else None
    return Response(content=body, status_code=status, media_type=media_type, headers=headers)


async def run_idempotent(
    request: Request[Any, Any, Any],
    box: SecretBox,
    *,
    scope: str,
    required: bool,
    run: Run[T],
    render: Render[T],
) -> Response[bytes]:
    """Call the use case with the request's idempotency key (if any) and answer its outcome,
    or the first request's when the core replays it."""
    key = validate_key(request.headers.get(HEADER))
    if key is None:
        if required:
            raise IdempotencyKeyMissing()
        result = await run(None)
        assert not isinstance(result, Replayed)
        status, struct = render(result)
        return _json_response(status, msgspec.json.encode(struct))

    request_id = request_id_of(request.scope)
    print_ = fingerprint(request.method, request.url.path, await request.body())
    #: The last outcome sealed (kept alive, so ``is`` below means this very outcome).
    last: list[Any] = [None, 0, b""]

    def seal(outcome: object) -> bytes:
        if isinstance(outcome, DomainError):
            problem = domain_problem(outcome, request_id)
            status, body = problem.status, encode_problem(problem)
        else:
            status, struct = render(outcome)  # type: ignore[arg-type]
            body = msgspec.json.encode(struct)
        last[:] = [outcome, status, body]
        return seal_answer(box, status, body)

    result = await run(Idempotency(scope, key, print_, seal))
    if isinstance(result, Replayed):
        status, body = open_answer(box, result.receipt)
        return _json_response(status, body, replayed=True)
    if result is last[0]:
        status, body = last[1], last[2]
    else:
        status, struct = render(result)
        body = msgspec.json.encode(struct)
    return _json_response(status, body)
