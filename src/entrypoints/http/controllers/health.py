"""Liveness, readiness and metrics: unauthenticated and never rate limited."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.context import container_of
from entrypoints.http.schemas import HealthResponse
from entrypoints.metrics import CONTENT_TYPE, Metrics

EXEMPT = {"rate_scope": "exempt"}


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = EXEMPT

    @get("/live", summary="The process is running", operation_id="live")
    async def live(self) -> HealthResponse:
        return HealthResponse(status="ok")

    @get(
        "/ready",
        summary="The database (and Redis, when configured) answer",
        operation_id="ready",
        responses={
            503: ResponseSpec(
                data_container=HealthResponse,
                description="A dependency is down",
                generate_examples=False,
            )
        },
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Response[HealthResponse]:
        checks = await container_of(request.scope).check_ready()
        ok = all(state == "ok" for state in checks.values())
        return Response(
            HealthResponse(status="ok" if ok else "unavailable", checks=checks),
            status_code=200 if ok else 503,
        )


@get(
    "/metrics",
    summary="Prometheus metrics (the whole server: every worker's counts add up)",
    description="Requests by route template and status, their latency, requests in flight, and "
    "money movements by transaction type and the status they reached (HTTP, webhooks and the "
    "in-process expiry job; a separate `wallet worker` serves its own counts on "
    "`WORKER_METRICS_PORT`).",
    media_type=CONTENT_TYPE,
    operation_id="metrics",
    opt=EXEMPT,
    tags=["health"],
)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> bytes:
    registry: Metrics = request.app.state.metrics
    return registry.render()
