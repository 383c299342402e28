"""The list envelope: ``{count, next, previous, results}`` plus ``next_cursor`` for keyset pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request

from wallet_core.queries import Page


def _url(request: Request[Any, Any, Any], **changes: object) -> str:
    # Every value of a repeated parameter (``?type=deposit&type=withdrawal``) is kept.
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    query = urlencode(params)
    base = str(request.url.with_replacements(query=""))
    return f"{base.rstrip('?')}?{query}" if query else base.rstrip("?")


def links(request: Request[Any, Any, Any], page: Page[Any]) -> dict[str, str | None]:
    """``next``/``previous`` URLs for page-number pages, or ``next``/``next_cursor`` for keyset."""
    if page.page is None:  # keyset
        following = _url(request, cursor=page.next_cursor, page=None) if page.next_cursor else None
        return {"next": following, "previous": None, "next_cursor": page.next_cursor}
    following = _url(request, page=page.page + 1, cursor=None) if page.has_next else None
    previous = _url(request, page=page.page - 1, cursor=None) if page.has_previous else None
    return {"next": following, "previous": previous, "next_cursor": page.next_cursor}
