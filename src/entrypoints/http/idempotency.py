"""Idempotency-Key handling around a money-moving use case (API.md "Idempotency").

The first request's outcome (status and body, success or business error) is stored in Postgres in
the same transaction as the movement; a retry with the same key and body replays it with
``Idempotent-Replayed: true``. Failures of ours (5xx) release the key so the client can retry.
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
from wallet_core.core import WalletCore
from wallet_core.errors import DomainError, IdempotencyKeyMissing
from wallet_core.services.idempotency import OutcomeRecorder, Replay, validate_key

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

#: Renders a use case's result as (status, JSON-able body).
Render = Callable[[T], tuple[int, msgspec.Struct]]
Execute = Callable[[OutcomeRecorder[T] | None], Awaitable[T]]


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


def _json_response(status: int, body: bytes, *, replayed: bool = False) -> Response[bytes]:
    media_type = PROBLEM_JSON if status >= 400 else "application/json"
    headers = {REPLAYED: "true"} if replayed else None
    return Response(content=body, status_code=status, media_type=media_type, headers=headers)


async def run_idempotent(
    request: Request[Any, Any, Any],
    core: WalletCore,
    *,
    scope: str,
    required: bool,
    execute: Execute[T],
    render: Render[T],
) -> Response[bytes]:
    key = validate_key(request.headers.get(HEADER))
    if key is None:
        if required:
            raise IdempotencyKeyMissing()
        status, body = render(await execute(None))
        return _json_response(status, msgspec.json.encode(body))

    request_id = request_id_of(request.scope)
    print_ = fingerprint(request.method, request.url.path, await request.body())
    claim = await core.idempotency.begin(scope, key, print_)
    if isinstance(claim, Replay):
        return _json_response(claim.status, claim.body, replayed=True)

    def render_outcome(outcome: T | DomainError) -> tuple[int, bytes]:
        if isinstance(outcome, DomainError):
            problem = domain_problem(outcome, request_id)
            return problem.status, encode_problem(problem)
        status, body = render(outcome)
        return status, msgspec.json.encode(body)

    recorder = core.idempotency.recorder(claim, render_outcome)
    try:
        result = await execute(recorder)
    except DomainError as error:
        problem = domain_problem(error, request_id)
        if problem.status >= 500:
            await core.idempotency.release(claim)
        elif not recorder.stored:
            await core.idempotency.record(claim, problem.status, encode_problem(problem))
        raise
    except BaseException:
        await core.idempotency.release(claim)
        raise
    status, body = render(result)
    return _json_response(status, msgspec.json.encode(body))
