"""``create_app(settings)``: the Litestar application, wired to one container per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import Middleware

from entrypoints.bootstrap import Container, build
from entrypoints.http.allow import OptionsAllow
from entrypoints.http.context import provide_actor, provide_container
from entrypoints.http.controllers.auth import AuthController
from entrypoints.http.controllers.events import EventsController
from entrypoints.http.controllers.health import HealthController, metrics_endpoint
from entrypoints.http.controllers.statements import StatementsController
from entrypoints.http.controllers.transactions import TransactionsController
from entrypoints.http.controllers.users import UsersController
from entrypoints.http.controllers.wallets import WalletsController
from entrypoints.http.controllers.webhook_endpoints import WebhookEndpointsController
from entrypoints.http.openapi import (
    BEARER,
    CurrencySchemaPlugin,
    StrictBodySchemaPlugin,
    openapi_config,
)
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.rate_limits import RateLimitMiddleware, add_rate_limit_headers
from entrypoints.http.request_context import RequestContextMiddleware, add_request_id_header
from entrypoints.http.requests import JsonRequest
from entrypoints.http.webhooks.controllers import WebhooksController
from entrypoints.logging import configure_logging
from entrypoints.metrics import Metrics
from entrypoints.settings import Settings
from entrypoints.tracing import RouteSpanMiddleware, start_tracing
from entrypoints.worker.embedded import EmbeddedJobs

MAX_BODY_BYTES = 64 * 1024


def create_app(
    settings: Settings,
    container: Container | None = None,
    *,
    run_background_jobs: bool | None = None,
    metrics: Metrics | None = None,
) -> Litestar:
    """The API. Pass ``container`` to share one (tests); otherwise one is built at startup and
    closed at shutdown. Background jobs run in-process in the embedded mode (no Redis) unless
    ``run_background_jobs`` says otherwise. ``metrics`` defaults to this process's (shared with
    the sibling server workers under ``wallet serve``)."""
    metrics = metrics or Metrics.for_this_process()
    background = settings.embedded if run_background_jobs is None else run_background_jobs
    tracing = start_tracing(settings, "api")
    if tracing is not None and container is not None:
        tracing.instrument_engine(container.storage.engine)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        configure_logging(settings)
        owned = container is None
        current = container or build(settings, counter=metrics)
        if tracing is not None and owned:
            tracing.instrument_engine(current.storage.engine)
        app.state.container = current
        current.start()
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
            if tracing is not None:
                tracing.shutdown()

    protected = {"actor": Provide(provide_actor)}
    api = Router(
        path="/api/v1",
        route_handlers=[
            AuthController,
            WebhooksController,
            Router(
                path="/",
                route_handlers=[
                    UsersController,
                    WalletsController,
                    StatementsController,
                    TransactionsController,
                    EventsController,
                    WebhookEndpointsController,
                ],
                dependencies=protected,
                security=BEARER,
            ),
            # Also served under the base path, documented once: at the root.
            Router(
                path="/",
                route_handlers=[HealthController, metrics_endpoint],
                include_in_schema=False,
            ),
        ],
    )
    allow_header = OptionsAllow()
    traced: list[Middleware] = [tracing.asgi_middleware(), RouteSpanMiddleware] if tracing else []
    app = Litestar(
        route_handlers=[api, HealthController, metrics_endpoint],
        dependencies={"container": Provide(provide_container)},
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            *traced,
            DefineMiddleware(
                RequestContextMiddleware,
                metrics=metrics,
                body_timeout=settings.http_body_timeout_seconds,
            ),
            RateLimitMiddleware,
        ],
        before_send=[add_request_id_header, add_rate_limit_headers, allow_header],
        openapi_config=openapi_config(),
        plugins=[
            StrictBodySchemaPlugin(),
            CurrencySchemaPlugin(settings.currency_registry().codes),
        ],
        request_max_body_size=MAX_BODY_BYTES,
        request_class=JsonRequest,
        logging_config=None,
        debug=False,
    )
    allow_header.learn(app)
    app.state.metrics = metrics
    app.state.tracing = tracing
    if container is not None:
        app.state.container = container
    return app
