"""The one place where errors become RFC 9457 problem details.

Domain errors map to a status by category; framework errors (404, 405, 400, 413...) get the same
shape. Nothing from a stack trace or a SQL statement ever reaches the client.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from entrypoints.http.request_context import request_id_of
from wallet_core.errors import (
    BusinessRuleViolation,
    Conflict,
    DomainError,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    InvalidInput,
    InvalidSignature,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    StaleSignature,
)

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"

_STATUS_BY_CATEGORY: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 400),
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (BusinessRuleViolation, 422),
    (RateLimited, 429),
    (ServiceUnavailable, 503),
)

_CODE_BY_STATUS = {
    400: "validation_error",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    503: "service_unavailable",
}


class FieldProblem(msgspec.Struct, omit_defaults=True):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, with our stable ``code`` and the request id."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str = ""
    errors: list[FieldProblem] = msgspec.field(default_factory=list)


def status_of(error: DomainError) -> int:
    for category, status in _STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 500


#: RFC 9110 names, where Python's HTTPStatus still has the older ones.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def title_of(status: int) -> str:
    return _TITLES.get(status) or HTTPStatus(status).phrase


def problem(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    errors: list[FieldProblem] | None = None,
) -> Problem:
    return Problem(
        type="about:blank",
        title=title_of(status),
        status=status,
        detail=detail,
        code=code,
        request_id=request_id,
        errors=errors or [],
    )


def domain_problem(error: DomainError, request_id: str) -> Problem:
    status = status_of(error)
    if status == 500:
        return problem(500, "internal_error", "Something went wrong on our side.", request_id)
    errors = [FieldProblem(e.field, e.message) for e in getattr(error, "errors", ())]
    return problem(status, error.code, error.message, request_id, errors)


def domain_headers(error: DomainError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated) and not isinstance(
        error, InvalidSignature | StaleSignature
    ):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, ServiceUnavailable):
        headers["Retry-After"] = "1"
    return headers


def encode_problem(p: Problem) -> bytes:
    return msgspec.json.encode(p)


def problem_response(p: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=encode_problem(p), status_code=p.status, media_type=PROBLEM_JSON, headers=headers
    )


def handle_domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[bytes]:
    request_id = request_id_of(request.scope)
    p = domain_problem(error, request_id)
    if p.status >= 500:
        log.error("request.failed", error=type(error).__name__, detail=error.message)
    return problem_response(p, domain_headers(error))


def _validation_errors(error: ValidationException) -> list[FieldProblem]:
    extra = error.extra if isinstance(error.extra, list) else []
    problems = []
    for item in extra:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "body")
            problems.append(FieldProblem(field, str(item.get("message", "invalid"))))
    return problems


def handle_http_exception(request: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    status = error.status_code
    request_id = request_id_of(request.scope)
    code = _CODE_BY_STATUS.get(status, "error" if status < 500 else "internal_error")
    errors = _validation_errors(error) if isinstance(error, ValidationException) else []
    # The framework names the header "Idempotency-Key" when it is missing, but by the handler's
    # parameter name ("idempotency_key") when its value breaks the length bounds.
    header_problem = next(
        (e for e in errors if e.field.lower().replace("_", "-") == "idempotency-key"), None
    )
    detail_text = (error.detail or "").lower()
    if header_problem is not None or (status == 400 and "idempotency-key" in detail_text):
        message = header_problem.message if header_problem else detail_text
        missing = "missing" in message.lower()
        error_class = IdempotencyKeyMissing if missing else IdempotencyKeyInvalid
        return handle_domain_error(request, error_class())
    if status == 400:
        detail = "The request is invalid." if errors else _client_detail(error)
    elif status == 413:
        detail = "The request body is larger than 64 KiB."
    elif status >= 500:
        detail = "Something went wrong on our side."
    else:
        detail = error.detail or HTTPStatus(status).phrase
    headers = {k: v for k, v in (error.headers or {}).items() if k.lower() == "allow"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(problem(status, code, detail, request_id, errors), headers)


def _client_detail(error: HTTPException) -> str:
    detail = error.detail or "Bad request."
    # Framework messages about malformed JSON are safe and useful; keep them short.
    return detail if len(detail) <= 300 else detail[:300]


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    request_id = request_id_of(request.scope)
    log.exception("request.crashed", error=type(error).__name__)
    p = problem(500, "internal_error", "Something went wrong on our side.", request_id)
    return problem_response(p)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


#: What each error status means in this API, for the OpenAPI document.
_MEANINGS = {
    400: "Malformed JSON, wrong types, missing or unknown fields, or bad query parameters "
    "(`validation_error`, `idempotency_key_missing`, `idempotency_key_invalid`).",
    401: "Missing, invalid or expired credentials (`not_authenticated`, `invalid_credentials`), "
    "a revoked token or one from a session that has ended (`token_revoked`: the user was "
    "deactivated, changed their password or lost the staff role), or a bad webhook signature "
    "(`invalid_signature`, `stale_signature`).",
    403: "Authenticated but not allowed (`forbidden`, `wallet_frozen`), or a webhook source IP "
    "that is not allowed (`ip_not_allowed`).",
    404: "Not found, or not yours (`not_found`).",
    409: "State conflict (`not_pending`, `already_exists`, `idempotency_key_in_progress`).",
    408: "The request body did not arrive within the server's body timeout "
    "(`request_timeout`); the connection is closed.",
    413: "The request body is larger than 64 KiB (`payload_too_large`).",
    415: "The request body is not JSON: its `Content-Type` is neither `application/json` nor "
    "`application/*+json` (optionally `charset=utf-8`) (`unsupported_media_type`).",
    422: "Well-formed, but breaks a business rule (e.g. `insufficient_funds`, `invalid_amount`, "
    "`unsupported_currency`, `weak_password`, `idempotency_key_reused`).",
    429: "Rate limited (`rate_limited`); see `Retry-After`.",
}


#: What an operation that takes a body (and so lists 413) may also answer.
_BODY_STATUSES = (408, 415)


def responses_for(*statuses: int) -> dict[int, Any]:
    """OpenAPI ``responses`` entries describing the problem documents an endpoint may return.
    An operation with a body (413) also documents a body too slow (408) or not JSON (415)."""
    from litestar.openapi.datastructures import ResponseSpec

    if 413 in statuses:
        statuses = tuple(sorted({*statuses, *_BODY_STATUSES}))
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=f"{title_of(status)}: {_MEANINGS.get(status, title_of(status))}",
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in statuses
    }
