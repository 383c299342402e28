"""Swagger UI and ReDoc that work without the internet.

Litestar's render plugins load their bundles from public CDNs (jsdelivr, redoc.ly "latest") and
ReDoc's fonts from Google, so offline the pages are blank. Here both bundles come from the pinned
``drf-spectacular-sidecar`` package (its static files only: the package's ``__init__`` imports
Django, which is neither installed nor needed) and are served under ``/api/schema/assets``, outside
the rate limits. A Content-Security-Policy keeps the browser on our origin: ReDoc's sidebar logo
(an image on redoc.ly) is blocked before any request leaves, and hidden by ReDoc itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

BUNDLE_PACKAGE = "drf_spectacular_sidecar"
#: Where the assets are served, relative to the OpenAPI router (``/api/schema``).
ASSETS_PATH = "/assets"

#: Same origin only. Inline scripts and styles start each UI (the document is inlined in the
#: page), ReDoc builds its search worker from a blob and styled-components inject styles.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def bundle_directory() -> Path:
    """The package's static folder, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{BUNDLE_PACKAGE} is not installed; run `uv sync`")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "static" / BUNDLE_PACKAGE


def assets_router() -> Router:
    """The bundles as static files. They change only when the pinned package does."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[bundle_directory()],
        name="api-docs-assets",
        opt={"rate_scope": "exempt"},
        cache_control=CacheControlHeader(max_age=86400, public=True),
        include_in_schema=False,
    )


def render_plugins(schema_path: str) -> list[OpenAPIRenderPlugin]:
    """Swagger UI at ``/swagger`` and ReDoc at ``/redoc``, both on our own assets."""
    assets = f"{schema_path}{ASSETS_PATH}"
    swagger = f"{assets}/swagger-ui-dist"
    favicon = f"<link rel='icon' type='image/png' href='{swagger}/favicon-32x32.png'>"
    return [
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{swagger}/swagger-ui-bundle.js",
            css_url=f"{swagger}/swagger-ui.css",
            standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
            favicon=favicon,
        ),
        RedocRenderPlugin(
            path="/redoc",
            js_url=f"{assets}/redoc/bundles/redoc.standalone.js",
            google_fonts=False,
            favicon=favicon,
        ),
    ]


def security_headers() -> list[ResponseHeader]:
    return [
        ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
        ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ]
