"""OpenTelemetry tracing, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

One trace per HTTP request (its server span, with the SQL statements and Redis commands it makes
as children) and per background task (taskiq's own middleware: a producer span where the task is
sent, a consumer span where it runs, joined through the message's labels). Spans go in batches to
an OTLP/HTTP collector. Every log line written inside a span carries its ``trace_id`` and
``span_id``, and the HTTP span carries the ``request_id`` the response and the logs show.

Off by default, and then free: nothing here imports OpenTelemetry until :func:`start_tracing`
finds an endpoint, and the packages themselves are an optional extra (``tracing``), because
Litestar and redis-py import OpenTelemetry at start whenever it is installed.

A trace starts only at an entry point (an HTTP request, a task sent or run): a database or Redis
call outside any of them, such as a worker polling an empty queue, records nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from entrypoints.settings import Settings

if TYPE_CHECKING:
    from litestar.middleware import DefineMiddleware
    from litestar.types import ASGIApp, Receive, Scope, Send
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine
    from structlog.typing import EventDict, Processor, WrappedLogger
    from taskiq import AsyncBroker

#: Paths probed or scraped every few seconds; tracing them would bury the requests that matter.
UNTRACED_PATHS = ("^(/api/v1)?/health/", "^(/api/v1)?/metrics$", "^/api/schema")

MISSING_EXTRA = (
    "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
    "install the tracing extra (uv sync --extra tracing, or pip install 'digital-wallet[tracing]')"
)


class Tracing:
    """This process's tracer provider and the instrumentations it switched on."""

    def __init__(self, provider: TracerProvider, instrumentors: Sequence[Any]) -> None:
        self.provider = provider
        self._instrumentors = list(instrumentors)

    def asgi_middleware(self) -> DefineMiddleware:
        """The HTTP server span around the whole app (Litestar puts it outermost)."""
        from litestar.plugins.opentelemetry import OpenTelemetryConfig

        return OpenTelemetryConfig(
            tracer_provider=self.provider,
            exclude=list(UNTRACED_PATHS),
            exclude_spans=["receive", "send"],
            scope_span_details_extractor=_method_only,
        ).middleware

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """SQL spans for this engine's statements, each once. On PostgreSQL they come from the
        asyncpg instrumentation (switched on at start), which sees every statement on the wire:
        BEGIN and COMMIT, and the ledger's batched write, which goes to the driver directly and
        which SQLAlchemy never sees; SQLAlchemy's spans would repeat the others beside them.
        aiosqlite has no driver instrumentation, so SQLite engines get SQLAlchemy's."""
        if engine.dialect.name != "sqlite":
            return
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        instrumentor = SQLAlchemyInstrumentor()
        # Its declared range stops below SQLAlchemy 2.1; the engine events it uses are unchanged.
        instrumentor.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._instrumentors.append(instrumentor)

    def instrument_broker(self, broker: AsyncBroker) -> None:
        """taskiq's middleware: a span where a task is sent and one where it runs."""
        from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware

        broker.add_middlewares(OpenTelemetryMiddleware(tracer_provider=self.provider))

    def shutdown(self) -> None:
        """Export what is left and undo the patches (a test may start tracing again)."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()


def start_tracing(settings: Settings, role: str) -> Tracing | None:
    """Tracing for this process (``role``: api, worker or scheduler), or None when it is off."""
    if settings.otel_exporter_otlp_endpoint is None:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased
    except ImportError as exc:
        raise RuntimeError(MISSING_EXTRA) from exc

    resource = Resource(
        {
            "service.name": settings.otel_service_name,
            "service.namespace": "digital-wallet",
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            "deployment.environment.name": settings.env,
            "wallet.process": role,
        }
    )
    provider = TracerProvider(
        resource=resource,
        sampler=ParentBased(root=_entry_points(settings.otel_traces_sampler_arg)),
    )
    exporter = OTLPSpanExporter(
        endpoint=f"{settings.otel_exporter_otlp_endpoint}/v1/traces",
        headers=dict(settings.otel_exporter_otlp_headers),
        timeout=10,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentors: list[Any] = [AsyncPGInstrumentor(), RedisInstrumentor()]  # type: ignore[no-untyped-call]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    return Tracing(provider, instrumentors)


def _entry_points(ratio: float) -> Any:
    """A root sampler that keeps ``ratio`` of the traces that start at an entry point (a server
    span, a task sent or run, a span we open ourselves) and none that start at a client call."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )
    from opentelemetry.trace import SpanKind

    ratio_sampler = TraceIdRatioBased(ratio)

    class EntryPoints(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ratio_sampler.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"EntryPoints({ratio_sampler.get_description()})"

    return EntryPoints()


def _method_only(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's first name: the method alone (the path may hold ids); routing adds the route."""
    return str(scope.get("method", "HTTP")), {}


class RouteSpanMiddleware:
    """Names the HTTP span after the matched route (``GET /api/v1/wallet/{wallet_id}``) and puts
    the request id on it, once routing has happened."""

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry import trace

        from entrypoints.http import request_context

        self.app = app
        self._current_span = trace.get_current_span
        self._context = request_context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # type: ignore[comparison-overlap]  # ScopeType is a str enum
            span = self._current_span()
            if span.is_recording():
                route = self._context.route_template(scope)
                span.update_name(f"{scope.get('method', 'HTTP')} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("wallet.request_id", self._context.request_id_of(scope))
        await self.app(scope, receive, send)


def log_processors(settings: Settings) -> list[Processor]:
    """structlog processors that add the current trace and span ids (none when tracing is off)."""
    if not settings.tracing:
        return []
    from opentelemetry import trace

    def add_trace_ids(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        context = trace.get_current_span().get_span_context()
        if context.is_valid and context.trace_flags.sampled:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
        return event

    return [add_trace_ids]
