"""Which addresses an outgoing webhook may connect to (server-side request forgery guard).

A target must resolve only to public addresses: loopback, private, link-local (the cloud
metadata service lives there), carrier-grade NAT, multicast, reserved and unspecified addresses
are refused, IPv4 and IPv6 alike (an IPv4 address mapped into IPv6 counts as the IPv4 one).
The check runs at registration and again right before each connection, on the addresses the
connection will use, so a host that re-points its DNS to an internal address after registering
(DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_unspecified
    )


def _address(text: str) -> Address:
    return ipaddress.ip_address(text.split("%")[0])  # an IPv6 zone says nothing of the address


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return host, parts.port or (443 if parts.scheme == "https" else 80)


class TargetPolicy:
    def __init__(self, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self._resolve = resolver

    async def addresses(self, url: str) -> tuple[list[Address], str | None]:
        """The addresses ``url``'s host resolves to, and why they may not be used (None: ok).
        With private targets allowed, nothing is checked or resolved (an empty list: connect by
        name)."""
        if self.allow_private:
            return [], None
        host, port = host_and_port(url)
        try:
            literal = ipaddress.ip_address(host)
            found: list[Address] = [literal]
        except ValueError:
            try:
                found = [
                    ipaddress.ip_address(a.split("%")[0]) for a in await self._resolve(host, port)
                ]
            except (OSError, UnicodeError, ValueError):
                return [], f"the host {host!r} does not resolve"
        if not found:
            return [], f"the host {host!r} does not resolve"
        refused = [a for a in found if not is_public(a)]
        if refused:
            return [], (
                f"the host {host!r} resolves to a non-public address ({refused[0]}); "
                "webhook targets must be public"
            )
        return found, None
