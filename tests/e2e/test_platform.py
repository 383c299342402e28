"""The platform under every endpoint: health, request ids, problem details, body limits, docs."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert (await client.get("/api/v1/health/ready")).status_code == 200


async def test_ready_names_redis_when_it_is_down(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(REDIS_URL="redis://127.0.0.1:1/0")
    container = build(settings)
    app = create_app(settings, container, run_background_jobs=False)
    try:
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/health/ready")
    finally:
        await container.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("unavailable")


async def test_ready_names_the_database_when_it_is_down(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    container = build(settings)
    app = create_app(settings, container, run_background_jobs=False)
    try:
        async with app.lifespan():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/health/ready")
    finally:
        await container.close()
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unavailable")
    assert response.json()["checks"]["redis"] == "ok"


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health/live")
    assert len(generated.headers["x-request-id"]) >= 16
    assert generated.headers["x-request-id"] != echoed.headers["x-request-id"]


@pytest.mark.parametrize("bad", ["a b", "x" * 300, "evil\u00e9", "<script>"])
async def test_invalid_request_ids_are_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": bad.encode("utf-8")})
    assert response.headers["x-request-id"] != bad
    assert response.headers["x-request-id"].isalnum()


async def test_problem_details_for_unknown_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "rid-404"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == "rid-404"
    assert response.headers["x-request-id"] == "rid-404"


async def test_problem_details_for_wrong_method(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/auth/register")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "method_not_allowed"


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b'{"email": "a@b.c",',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    assert "Traceback" not in response.text


async def test_oversized_body_is_a_413_problem(client: httpx.AsyncClient) -> None:
    body = b'{"email": "' + b"a" * (65 * 1024) + b'"}'
    response = await client.post(
        "/api/v1/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_trailing_slash_is_optional(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live/")).status_code == 200
    without = await client.get("/api/v1/wallet")
    with_slash = await client.get("/api/v1/wallet/")
    assert without.status_code == with_slash.status_code == 401


async def test_openapi_document_and_docs_pages(client: httpx.AsyncClient) -> None:
    document = await client.get("/api/schema/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/wallet/transactions",
        "/api/v1/wallet/webhook/paysend",
        "/api/v1/wallet/webhook/cashout",
    ):
        assert path in paths, path
    assert "BearerToken" in spec["components"]["securitySchemes"]
    swagger = await client.get("/api/schema/swagger")
    redoc = await client.get("/api/schema/redoc")
    assert swagger.status_code == redoc.status_code == 200
    assert "swagger" in swagger.text.lower()
    assert "redoc" in redoc.text.lower()


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    unknown = await client.get(f"/api/v1/wallet/transactions/{uuid.uuid4()}")
    assert unknown.status_code == 401
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {
        "wallet_http_requests",
        "wallet_http_request_duration_seconds",
        "wallet_http_requests_in_flight",
        "wallet_money_movements",
    } <= set(families)
    routes = {s.labels["route"] for s in families["wallet_http_requests"].samples}
    # The full path template, never the router-relative "/".
    assert {"/health/live", "/api/v1/wallet/transactions/{transaction_id}"} <= routes
    assert "/" not in routes
