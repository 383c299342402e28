"""Who is calling: the client IP behind trusted proxies, and source-IP allowlists for webhooks.

``X-Forwarded-For`` is client-controlled except for the hops our own proxies appended, so it is
believed only when the socket peer is a trusted proxy, and read from the right: each trusted proxy
appends the address it saw, so the first untrusted address from the right is the client. The
leftmost entries are whatever the client chose to send and are never trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TypeAlias

from wallet_core.errors import IpNotAllowed

IpAddress: TypeAlias = IPv4Address | IPv6Address
IpNetwork: TypeAlias = IPv4Network | IPv6Network

_MAPPED_PREFIX = 96  # ::ffff:0:0/96 embeds the IPv4 space


def _normalise(address: IpAddress) -> IpAddress:
    """``::ffff:1.2.3.4`` (a dual-stack socket's view of an IPv4 client) becomes ``1.2.3.4``."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normalise_network(network: IpNetwork) -> IpNetwork:
    mapped = network.network_address
    if (
        isinstance(network, IPv6Network)
        and isinstance(mapped, IPv6Address)
        and mapped.ipv4_mapped is not None
        and network.prefixlen >= _MAPPED_PREFIX
    ):
        return IPv4Network((mapped.ipv4_mapped, network.prefixlen - _MAPPED_PREFIX))
    return network


def parse_address(text: str) -> IpAddress | None:
    """An IP address, normalised, or None when ``text`` is not one."""
    try:
        return _normalise(ip_address(text.strip()))
    except ValueError:
        return None


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Comma-separated IPs and CIDR ranges (IPv4 and IPv6); empty items are skipped.

    Ranges with host bits set (``10.0.0.1/8``) are refused: they are more likely a typo than a
    deliberate range, and a security allowlist should not guess.
    """
    networks: list[IpNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(_normalise_network(ip_network(item)))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR range: {exc}") from exc
    return tuple(networks)


def is_in(address: IpAddress, networks: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in networks)


def joined_forwarded_for(values: Iterable[str]) -> str | None:
    """Every ``X-Forwarded-For`` field line as one list, in order (RFC 9110 5.3: repeated lines
    are one comma-separated list). A proxy may add its own line after the client's instead of
    extending it, so reading one line alone would let the client choose its address."""
    joined = ", ".join(value for value in values if value.strip())
    return joined or None


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[IpNetwork]
) -> IpAddress | None:
    """The caller's address: the socket ``peer``, or, when the peer is a trusted proxy, the first
    ``X-Forwarded-For`` entry from the right that is not itself a trusted proxy.

    Conservative on malformed input: a bad entry stops the walk and the last good hop (a trusted
    proxy, or the peer) is the answer, so a request never gains an address it cannot prove.
    Entries with ports or brackets count as malformed. None when the peer is not an IP address.
    """
    current = parse_address(peer) if peer is not None else None
    if current is None or not is_in(current, trusted_proxies) or not forwarded_for:
        return current
    for entry in reversed(forwarded_for.split(",")):
        hop = parse_address(entry)
        if hop is None:
            return current
        current = hop
        if not is_in(hop, trusted_proxies):
            return hop
    return current


def require_allowed(address: IpAddress | None, allowlist: Sequence[IpNetwork]) -> None:
    """Raise ``IpNotAllowed`` unless ``address`` is in ``allowlist``; an unknown address is not."""
    if address is None or not is_in(_normalise(address), allowlist):
        raise IpNotAllowed()


@dataclass(frozen=True, slots=True)
class IpRules:
    """One webhook source's allowlist plus the deployment's trusted proxies."""

    allowlist: tuple[IpNetwork, ...]
    trusted_proxies: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_config(cls, allowlist: str, trusted_proxies: str = "") -> IpRules:
        return cls(parse_networks(allowlist), parse_networks(trusted_proxies))

    def check(self, peer: str | None, forwarded_for: str | None) -> IpAddress:
        """The client address, if allowed; raise ``IpNotAllowed`` otherwise."""
        address = client_ip(peer, forwarded_for, self.trusted_proxies)
        if address is None:
            raise IpNotAllowed()
        require_allowed(address, self.allowlist)
        return address
