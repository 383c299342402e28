"""Reading the API's documentation does not use up an anonymous caller's requests."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from wallet_core.local import MemoryNotifier

DOCS = ("/api/schema/openapi.json", "/api/schema/swagger", "/api/schema/redoc", "/api/schema")


async def test_docs_pages_and_the_schema_are_not_rate_limited(
    make_settings: Callable[..., Settings],
) -> None:
    """With one anonymous request a day, the schema and both pages load again and again, and
    the caller still has that one request left for the API afterwards."""
    settings = make_settings(RATE_LIMIT_ANON="1/day")
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://docs") as http:
            for path in DOCS * 3:
                response = await http.get(path)
                assert response.status_code == 200, (path, response.status_code)
                assert "ratelimit-limit" not in response.headers, path
            first = await http.get("/api/v1/users/me")
            assert first.status_code == 401
            assert first.headers["ratelimit-remaining"] == "0"
            assert (await http.get("/api/v1/users/me")).status_code == 429
    finally:
        await container.close()
