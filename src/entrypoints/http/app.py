"""``create_app(settings)``: the Litestar application, wired to one container per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.exceptions import SerializationException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from entrypoints.bootstrap import Container, build
from entrypoints.http.context import provide_actor, provide_container
from entrypoints.http.controllers.auth import AuthController
from entrypoints.http.controllers.health import HealthController, metrics
from entrypoints.http.controllers.transactions import TransactionsController
from entrypoints.http.controllers.users import UsersController
from entrypoints.http.controllers.wallets import WalletsController
from entrypoints.http.metrics import Metrics
from entrypoints.http.openapi import BEARER, StrictBodySchemaPlugin, openapi_config
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.rate_limits import RateLimitMiddleware, add_rate_limit_headers
from entrypoints.http.request_context import RequestContextMiddleware, add_request_id_header
from entrypoints.http.webhooks.controllers import WebhooksController
from entrypoints.logging import configure_logging
from entrypoints.settings import Settings
from entrypoints.worker.embedded import EmbeddedJobs

MAX_BODY_BYTES = 64 * 1024


class JsonRequest(Request[Any, Any, Any]):
    """Malformed JSON is a 400, never a crash, and a JSON value of the wrong type is a 400.

    Litestar turns ``msgspec.DecodeError`` into a client error, but msgspec raises
    ``RecursionError`` past its nesting limit and ``UnicodeDecodeError`` on invalid UTF-8 inside
    a string, which would otherwise be 500s.

    Litestar converts the decoded body to the handler's ``data`` type in msgspec's lax mode (made
    for query strings), which coerces ``0`` and ``"true"`` into booleans. API.md wants wrong types
    refused, so the body is first checked against that type in strict mode.
    """

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise SerializationException("The JSON body is nested too deeply.") from None
        except UnicodeDecodeError:
            raise SerializationException("The JSON body is not valid UTF-8.") from None
        data_field = self.route_handler.parsed_data_field
        if data_field is not None:
            _refuse_coercions(value, data_field.annotation)
        return value


def _refuse_coercions(value: Any, annotation: Any) -> None:
    """A 400 for a body that only lax conversion accepts (``0`` or ``"true"`` for a boolean).

    Bodies that even lax conversion refuses are left to Litestar, which reports them together
    with the other parameters' errors (a missing ``Idempotency-Key`` keeps its own code).
    """
    try:
        msgspec.convert(value, type=annotation, strict=True)
    except msgspec.ValidationError as strict_error:
        try:
            msgspec.convert(value, type=annotation, strict=False)
        except msgspec.ValidationError:
            return
        message, _, path = str(strict_error).partition(" - at `$")
        raise ValidationException(
            "The request body is invalid.",
            extra=[{"message": message, "key": path.rstrip("`").lstrip(".") or "data"}],
        ) from None


class _OptionsAllow:
    """``before_send`` hook: the automatic ``OPTIONS`` answer lists every method of its path.

    Litestar builds each path's ``OPTIONS`` handler with the route that first registered the path;
    when a controller adds more methods to that path (``GET /wallet`` and ``POST /wallet``), the
    merged route keeps the first handler, whose ``Allow`` then misses the later methods. The 405
    answers are right (they come from the routing table), so this makes ``OPTIONS`` agree.
    """

    def __init__(self) -> None:
        self._allow: dict[str, str] = {}

    def learn(self, app: Litestar) -> None:
        for route in app.routes:
            if isinstance(route, HTTPRoute):
                self._allow[route.path_format] = ", ".join(sorted(route.methods))

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        allow = self._allow.get(str(scope.get("path_template", "")))
        if allow is not None and message["status"] == 204:
            MutableScopeHeaders.from_message(message)["Allow"] = allow


def create_app(
    settings: Settings,
    container: Container | None = None,
    *,
    run_background_jobs: bool | None = None,
) -> Litestar:
    """The API. Pass ``container`` to share one (tests); otherwise one is built at startup and
    closed at shutdown. Background jobs run in-process in the embedded mode (no Redis) unless
    ``run_background_jobs`` says otherwise."""
    metrics_registry = Metrics()
    background = settings.embedded if run_background_jobs is None else run_background_jobs

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        configure_logging(settings)
        owned = container is None
        current = container or build(settings)
        app.state.container = current
        jobs = None
        if background:
            jobs = EmbeddedJobs(
                current.core,
                outbox_poll_seconds=settings.outbox_poll_seconds,
                expiry_interval_seconds=settings.expiry_interval_seconds,
            )
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            if owned:
                await current.close()

    protected = {"actor": Provide(provide_actor)}
    api = Router(
        path="/api/v1",
        route_handlers=[
            AuthController,
            WebhooksController,
            Router(
                path="/",
                route_handlers=[UsersController, WalletsController, TransactionsController],
                dependencies=protected,
                security=BEARER,
            ),
            HealthController,
            metrics,
        ],
    )
    allow_header = _OptionsAllow()
    app = Litestar(
        route_handlers=[api, HealthController, metrics],
        dependencies={"container": Provide(provide_container)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(
                RequestContextMiddleware, on_response=metrics_registry.observe_request
            ),
            RateLimitMiddleware,
        ],
        before_send=[add_request_id_header, add_rate_limit_headers, allow_header],
        openapi_config=openapi_config(),
        plugins=[StrictBodySchemaPlugin()],
        request_max_body_size=MAX_BODY_BYTES,
        request_class=JsonRequest,
        logging_config=None,
        debug=False,
    )
    allow_header.learn(app)
    app.state.metrics = metrics_registry
    if container is not None:
        app.state.container = container
    return app
