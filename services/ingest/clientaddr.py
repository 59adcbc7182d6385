"""Which client a request comes from, for rate limiting only: never logged, never published."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from services.common.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# An IPv6 client usually owns a whole /64: one bucket per /64, or rotating addresses walk past it.
_V6_PREFIX = 64


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:1234"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> Address | None:
    """The client: the socket peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For hop that is not itself a trusted proxy (hops to its left are client-written)."""
    address = _parse(peer) if peer is not None else None
    if address is None or not proxies or not _trusted(address, proxies):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            # A trusted proxy wrote something that is not an address: fall back to the proxy.
            return address
        if not _trusted(parsed, proxies):
            return parsed
        address = parsed
    return address


def bucket_key(address: Address | None) -> str:
    """The rate-limit key: the IPv4 address, or the IPv6 /64."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, _V6_PREFIX), strict=False))
    return str(address)
