"""ASGI factories for ``bench/revocation.py``: the production app, and the same app without the
per-request session check (the "before"), or without the background sync (every request then
takes the fallback: one database read for its user's mark)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings


def _app(change: Any = None) -> Litestar:
    settings = load_settings()
    container: Container = build(settings)
    if change is not None:
        change(container)
    return create_app(settings, container)


def with_check() -> Litestar:
    return _app()


def without_check() -> Litestar:
    async def confirm(actor: Any) -> None:
        return None

    def remove(container: Container) -> None:
        sessions = container.core.sessions
        sessions.check = lambda user_id, generation: None  # type: ignore[method-assign]
        sessions.confirm = confirm  # type: ignore[method-assign]
        container.session_sync.start = lambda: None  # type: ignore[method-assign]

    return _app(remove)


def fallback() -> Litestar:
    def never_sync(container: Container) -> None:
        container.session_sync.start = lambda: None  # type: ignore[method-assign]

    return _app(never_sync)
