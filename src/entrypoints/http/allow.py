"""A correct ``Allow`` header on the automatic ``OPTIONS`` answers."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


class OptionsAllow:
    """``before_send`` hook: the automatic ``OPTIONS`` answer lists every method of its path.

    Litestar builds each path's ``OPTIONS`` handler with the route that first registered the path;
    when a controller adds more methods to that path (``GET /wallet`` and ``POST /wallet``), the
    merged route keeps the first handler, whose ``Allow`` then misses the later methods. The 405
    answers are right (they come from the routing table), so this makes ``OPTIONS`` agree.
    """

    def __init__(self) -> None:
        self._allow: dict[str, str] = {}

    def learn(self, app: Litestar) -> None:
        for route in app.routes:
            if isinstance(route, HTTPRoute):
                self._allow[route.path_format] = ", ".join(sorted(route.methods))

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        allow = self._allow.get(str(scope.get("path_template", "")))
        if allow is not None and message["status"] == 204:
            MutableScopeHeaders.from_message(message)["Allow"] = allow
