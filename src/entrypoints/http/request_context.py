"""Request ids and access logs: every response carries ``X-Request-ID`` and every log line of a
request carries the same id."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

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


def route_template(scope: Scope) -> str:
    """The matched route's full template (``/api/v1/wallet/{wallet_id}``): a bounded label."""
    template = scope.get("path_template")
    if template:
        return str(template)
    return "unmatched"


class RequestContextMiddleware:
    """Binds the request id to structlog's context and logs one access line per request."""

    def __init__(self, app: ASGIApp, on_response: Any = None) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            if self.on_response is not None:
                self.on_response(scope.get("method", ""), route, status, elapsed)
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
