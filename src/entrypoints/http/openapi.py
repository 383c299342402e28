"""OpenAPI document settings: docs pages and the bearer security scheme."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Digital Wallet API",
        version="1.0.0",
        description=(
            "Multi-currency wallets on a double-entry ledger with pending transfers. "
            "Errors are RFC 9457 problem details with a stable `code`. Money is a decimal "
            "string. Money-moving POSTs require `Idempotency-Key`."
        ),
        path="/api/schema",
        render_plugins=[SwaggerRenderPlugin(path="/swagger"), RedocRenderPlugin(path="/redoc")],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT", description="Access token"
                )
            }
        ),
        security=[{"BearerToken": []}],
        use_handler_docstrings=False,
    )
