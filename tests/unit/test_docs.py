"""The project documents itself: every setting, every route and every error code is on a page
in docs/, so a clone needs nothing from outside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import entrypoints.http.app
from entrypoints.http import problems
from entrypoints.http.app import create_app
from entrypoints.settings import KNOWN_VARIABLES, load_settings
from wallet_core.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
METHODS = ("get", "post", "put", "patch", "delete")
BASE = "/api/v1"


def docs_text() -> str:
    return "\n".join(page.read_text() for page in sorted(DOCS.glob("*.md")))


def _template(path: str) -> str:
    """Path parameters compared by position, whatever a page calls them."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def served_routes() -> list[tuple[str, str]]:
    app = create_app(load_settings({}, env_file=None))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


def is_documented(method: str, path: str, text: str) -> bool:
    """``METHOD /api/v1/path`` or, on a page about one area, ``METHOD /path`` under the base."""
    spellings = {path, path.removeprefix(BASE)} if path.startswith(f"{BASE}/") else {path}
    return any(
        re.search(rf"{method} {re.escape(_template(s))}(?![\w/{{}}-])", _template(text))
        for s in spellings
    )


def test_every_setting_is_in_env_example_and_documented() -> None:
    example = (ROOT / ".env.example").read_text()
    in_example = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert KNOWN_VARIABLES - in_example == set()
    text = docs_text()
    assert {v for v in KNOWN_VARIABLES if not re.search(rf"`{v}`", text)} == set()


def test_every_served_route_is_documented() -> None:
    routes = served_routes()
    assert len(routes) >= 20
    text = docs_text()
    assert [route for route in routes if not is_documented(*route, text)] == []


def test_the_route_check_can_fail() -> None:
    text = "`GET /api/v1/wallet/transactions` and `POST /wallet/{id}/action`"
    assert is_documented("GET", "/api/v1/wallet/transactions", text)
    assert is_documented("POST", "/api/v1/wallet/{wallet_id}/action", text)
    assert not is_documented("GET", "/api/v1/wallet", text)  # a prefix of another route
    assert not is_documented("POST", "/api/v1/wallet/transactions", text)


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def answered_codes() -> set[str]:
    """Every ``code`` problems.py can put in an answer: domain errors by their category (one
    outside every category is an ``internal_error``), framework errors by status."""
    assert entrypoints.http.app  # every module with domain errors is imported
    codes = {"internal_error", "error", *problems._CODE_BY_STATUS.values()}
    for cls in _subclasses(DomainError):
        error = cls.__new__(cls)
        codes.add(cls.code if problems.status_of(error) != 500 else "internal_error")
    return codes


def test_every_error_code_is_in_errors_md() -> None:
    page = (DOCS / "errors.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", page, re.MULTILINE))
    codes = answered_codes()
    assert {"insufficient_funds", "validation_error", "rate_limited"} <= codes
    assert codes - listed == set()
    assert listed - codes == set(), "errors.md lists a code the service never answers"


@pytest.mark.parametrize("page", sorted(p.name for p in [ROOT / "README.md", *DOCS.glob("*.md")]))
def test_links_stay_inside_the_repository(page: str) -> None:
    path = ROOT / page if page == "README.md" else DOCS / page
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        assert (path.parent / target).resolve().is_relative_to(ROOT), (page, target)
        assert (path.parent / target).exists(), (page, target)
