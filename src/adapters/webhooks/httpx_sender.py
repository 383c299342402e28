"""Sends webhook deliveries with httpx: no redirects followed, no proxy from the environment, a
total timeout per attempt, and the connection made only to the addresses the target policy
approved a moment before (the request goes to that IP; ``Host`` and TLS SNI/certificate checks
use the URL's host name)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from adapters.webhooks.targets import TargetPolicy
from wallet_core.webhooks import SendOutcome


def _pinned(url: str, address: str) -> tuple[str, str]:
    """``url`` aimed at ``address``, and the ``Host`` header it must carry."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc)), parts.netloc.rpartition("@")[2]


class HttpxWebhookSender:
    def __init__(self, policy: TargetPolicy) -> None:
        self._policy = policy
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._client

    async def check_target(self, url: str) -> str | None:
        _, reason = await self._policy.addresses(url)
        return reason

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], seconds: float
    ) -> SendOutcome:
        addresses, reason = await self._policy.addresses(url)
        if reason is not None:
            return SendOutcome(error=f"refused before connecting: {reason}")
        target, extra, extensions = url, {}, {}
        if addresses:  # connect to the address just checked, not to a fresh lookup
            target, host_header = _pinned(url, str(addresses[0]))
            extra = {"Host": host_header}
            extensions = {"sni_hostname": urlsplit(url).hostname or ""}
        request = self._http().build_request(
            "POST",
            target,
            content=body,
            headers={**headers, **extra},
            timeout=httpx.Timeout(seconds),
            extensions=extensions,
        )
        try:
            async with asyncio.timeout(seconds):
                response = await self._http().send(request, stream=True)
                await response.aclose()
        except TimeoutError:
            return SendOutcome(error=f"no answer within {seconds:g} s")
        except httpx.TimeoutException:
            return SendOutcome(error=f"no answer within {seconds:g} s")
        except httpx.ConnectError as exc:
            return SendOutcome(error=f"could not connect: {exc or type(exc).__name__}")
        except httpx.HTTPError as exc:
            return SendOutcome(error=f"{type(exc).__name__}: {exc}")
        if response.is_redirect:
            return SendOutcome(status_code=response.status_code, error="redirects are not followed")
        return SendOutcome(status_code=response.status_code)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
