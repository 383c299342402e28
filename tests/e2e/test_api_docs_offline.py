"""Swagger UI and ReDoc work offline: their pages name no other host, every asset they name is
served by the app itself (outside the rate limits), and a Content-Security-Policy keeps the
browser from fetching anything elsewhere. What the pages look like is checked by a person with
``scripts/screenshot_api_docs.py`` (headless Chromium), which CI cannot run."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from wallet_core.local import MemoryNotifier

PAGES = ("/api/schema/swagger", "/api/schema/redoc")
#: Any absolute or protocol-relative URL outside attributes, e.g. in inline CSS or JS.
EXTERNAL_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}""")
#: What a stylesheet fetches: ``url(...)`` and ``@import "..."`` (data: URIs fetch nothing).
CSS_FETCH = re.compile(r"""url\(\s*['"]?(?!data:)([^'")\s]+)|@import\s+['"]([^'"]+)""")


class _References(HTMLParser):
    """Every URL an HTML page makes the browser fetch: src, href and srcset attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script_or_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("src", "href"):
                self.urls.append(value)
            elif value and name == "srcset":
                self.urls.extend(part.split()[0] for part in value.split(",") if part.strip())
            elif value and name == "style":
                self.inline.append(value)
        self._in_script_or_style = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script_or_style = False

    def handle_data(self, data: str) -> None:
        if self._in_script_or_style:
            self.inline.append(data)


def references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    return parser


def test_the_reference_finder_sees_external_urls() -> None:
    """The checks below are only as good as this parser; it must notice a CDN."""
    page = references(
        "<html><head><link href='https://cdn.example.com/a.css' rel='stylesheet'>"
        "<script src='//cdn.example.com/b.js'></script>"
        "<style>@import url(https://fonts.googleapis.com/css);</style></head>"
        "<body><img srcset='/local.png 1x, https://img.example.com/c.png 2x'></body></html>"
    )
    assert [urlsplit(url).netloc for url in page.urls] == [
        "cdn.example.com",
        "cdn.example.com",
        "",
        "img.example.com",
    ]
    assert EXTERNAL_URL.search(" ".join(page.inline))
    css = "a{background:url(data:image/svg+xml;x)} b{background:url('https://x.example/i.png')}"
    assert ["".join(found) for found in CSS_FETCH.findall(css)] == ["https://x.example/i.png"]


def _code_of(inline: str) -> str:
    """Inline script without the OpenAPI document it embeds (whose texts are not requests)."""
    return re.sub(r"(spec:|Redoc\.init\()\s*\{.*\}\s*(,)", r"\1{}\2", inline, flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
async def test_docs_page_names_no_other_host(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    found = references(response.text)
    assert len(found.urls) >= 2, found.urls  # at least the favicon and the UI's bundle
    for url in found.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url}"
    for inline in found.inline:
        assert not EXTERNAL_URL.search(_code_of(inline)), f"{page} inline code names a host"


@pytest.mark.parametrize("page", PAGES)
async def test_every_asset_of_a_docs_page_is_served(client: httpx.AsyncClient, page: str) -> None:
    html = (await client.get(page)).text
    for url in references(html).urls:
        asset = await client.get(urljoin(page, url))
        assert asset.status_code == 200, url
        assert asset.content, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], url
        elif url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css"), url
            for fetched in CSS_FETCH.findall(asset.text):
                target = "".join(fetched)
                assert not urlsplit(target).netloc, f"{url} fetches {target}"


async def test_docs_pages_keep_the_browser_on_our_origin(client: httpx.AsyncClient) -> None:
    for page in PAGES:
        policy = (await client.get(page)).headers["content-security-policy"]
        directives = {}
        for part in policy.split(";"):
            name, _, sources = part.strip().partition(" ")
            directives[name] = sources
        assert directives["default-src"] == "'self'"
        for name in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
            sources = directives[name].split()
            assert all(s in ("'self'", "'unsafe-inline'", "data:") for s in sources), policy


async def test_missing_asset_is_a_problem_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/schema/assets/swagger-ui-dist/nothing-here.js")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    escape = await client.get("/api/schema/assets/../../../../etc/passwd")
    assert escape.status_code == 404


async def test_assets_do_not_count_against_the_anonymous_limit(
    make_settings: Callable[..., Settings],
) -> None:
    """With one anonymous request a day allowed, the docs' assets still load, again and again."""
    settings = make_settings(RATE_LIMIT_ANON="1/day")
    container = build(settings, notifier=MemoryNotifier())
    app = create_app(settings, container, run_background_jobs=False)
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://limited") as http:
            assets = [
                "/api/schema/assets/swagger-ui-dist/swagger-ui-bundle.js",
                "/api/schema/assets/swagger-ui-dist/swagger-ui.css",
                "/api/schema/assets/redoc/bundles/redoc.standalone.js",
            ]
            for url in assets * 2:
                response = await http.get(url)
                assert response.status_code == 200, (url, response.status_code)
                assert "ratelimit-limit" not in response.headers
            # The same caller is limited elsewhere: the exemption is the assets' own.
            first = await http.get("/api/v1/users/me")
            second = await http.get("/api/v1/users/me")
            assert "ratelimit-limit" in first.headers
            assert second.status_code == 429
    finally:
        await container.close()
