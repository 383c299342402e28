"""Per-scope rate limits (docs/api.md "Rate limits"), checked after routing so each route can name
its scope through ``opt={"rate_scope": ...}``.

Every request counts against the general scope (per user when authenticated, else per IP);
``registration`` (per IP), ``wallet`` (per user) and each webhook source add their own windows.
The tightest window's numbers go out in the ``RateLimit-*`` headers.
"""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.rate_limit import Decision, Window
from entrypoints.http.client_ip import client_ip, joined_forwarded_for
from entrypoints.http.context import container_of, peek_actor
from entrypoints.settings import RateLimit, Settings
from wallet_core.errors import RateLimited

_HEADERS_KEY = "rate_limit_headers"


#: One IPv6 host usually holds a whole /64 and can rotate through it at will, so per-IP windows
#: count an IPv6 client by its /64 (as IPv4 clients behind one NAT already share an address).
IPV6_CLIENT_PREFIX = 64


def caller_ip(scope: Scope, settings: Settings) -> str:
    """The rate-limit identity of an anonymous caller: its IPv4 address or its IPv6 /64."""
    peer = (scope.get("client") or (None, None))[0]
    forwarded = joined_forwarded_for(
        value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    )
    address = client_ip(peer, forwarded, settings.trusted_proxies)
    if address is None:
        return str(peer)
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _windows(scope: Scope, settings: Settings) -> list[tuple[str, str, RateLimit]]:
    handler = scope.get("route_handler")
    name = getattr(handler, "opt", {}).get("rate_scope")
    if name == "exempt":
        return []
    if isinstance(name, str) and name.startswith("webhook:"):
        return [(name, name.removeprefix("webhook:"), settings.rate_limit_webhook)]
    actor = peek_actor(scope)
    # The caller's address is only worked out when a window counts by it.
    ip = caller_ip(scope, settings) if actor is None or name == "registration" else ""
    windows = (
        [("user", str(actor.user_id), settings.rate_limit_user)]
        if actor is not None
        else [("anon", ip, settings.rate_limit_anon)]
    )
    if name == "registration":
        windows.append(("registration", ip, settings.rate_limit_registration))
    elif name == "wallet":
        identity = str(actor.user_id) if actor is not None else ip
        windows.append(("wallet", identity, settings.rate_limit_wallet))
    return windows


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after),
    }


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        container = container_of(scope)
        settings = container.settings
        if not settings.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        decisions = await container.rate_limiter.hit(
            [
                Window(name, identity, limit.amount, limit.per)
                for name, identity, limit in _windows(scope, settings)
            ]
        )
        if not decisions:
            await self.app(scope, receive, send)
            return
        blocked = [d for d in decisions if not d.allowed]
        shown = (
            max(blocked, key=lambda d: d.retry_after)
            if blocked
            else min(decisions, key=lambda d: d.remaining)
        )
        scope.setdefault("state", {})[_HEADERS_KEY] = rate_limit_headers(shown)
        if blocked:
            raise RateLimited(
                f"Rate limit exceeded: {shown.limit} requests per window; retry later.",
                retry_after=shown.retry_after,
            )
        await self.app(scope, receive, send)


def pending_rate_limit_headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = scope.get("state", {}).get(_HEADERS_KEY, {})
    return headers


async def add_rate_limit_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: the chosen window's headers go out on every limited response."""
    if message["type"] == "http.response.start":
        headers = pending_rate_limit_headers(scope)
        if headers:
            from litestar.datastructures import MutableScopeHeaders

            mutable = MutableScopeHeaders.from_message(message)
            for name, value in headers.items():
                mutable[name] = value
