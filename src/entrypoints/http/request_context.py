"""Request ids, access logs and request metrics: every response carries ``X-Request-ID``, every
log line of a request carries the same id, and each request is counted under its route template
(499 for a client that left before its response)."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.body_reading import BodyReader

if TYPE_CHECKING:
    from entrypoints.metrics import Metrics

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STATE_KEY = "request_id"

log = structlog.get_logger("wallet.access")


def request_id_of(scope: Any) -> str:
    """This request's id: a valid incoming ``X-Request-ID``, else a new one (stable per request)."""
    state = scope.setdefault("state", {})
    existing = state.get(_STATE_KEY)
    if existing:
        return str(existing)
    incoming = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            incoming = value.decode("latin-1")
            break
    request_id = incoming if incoming and _VALID.match(incoming) else uuid.uuid4().hex
    state[_STATE_KEY] = request_id
    return request_id


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: runs for every response, including errors raised before routing."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        headers[HEADER] = request_id_of(scope)


CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before its response


def route_template(scope: Scope) -> str:
    """The matched route's full path template (``/api/v1/wallet/transactions/{transaction_id}``),
    the same for every request to that route, so it can label metrics."""
    return scope.get("path_template") or "unmatched"


class RequestContextMiddleware:
    """Binds the request id to structlog's context, logs one access line per request and reports
    it to ``metrics``; the request body must arrive within ``body_timeout`` seconds."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics | None = None, body_timeout: float | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        reader = BodyReader(receive, self.body_timeout)
        status = 500
        responded = completed = False
        left_before_completion = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responded, completed, left_before_completion
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True
                left_before_completion = reader.disconnected
            await send(message)

        in_flight = (
            self.metrics.in_flight() if self.metrics is not None else contextlib.nullcontext()
        )
        try:
            with in_flight:
                await self.app(scope, reader, send_wrapper)
        except Exception as error:
            # Raised before any response (a middleware's 429, say): the status is the one the
            # exception handlers outside will answer, not a 500.
            if not responded:
                status = raised_status(error)
            raise
        finally:
            elapsed = time.perf_counter() - started
            client_left = left_before_completion if completed else reader.disconnected
            if client_left:
                status = CLIENT_CLOSED_REQUEST
            if self.metrics is not None:
                method = scope.get("method", "")
                self.metrics.observe_request(method, route_template(scope), status, elapsed)
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def raised_status(error: Exception) -> int:
    """The status Litestar's exception handlers answer for ``error``."""
    from litestar.exceptions import HTTPException

    from entrypoints.http.problems import status_of
    from wallet_core.errors import DomainError

    if isinstance(error, DomainError):
        return status_of(error)
    if isinstance(error, HTTPException):
        return error.status_code
    return 500
