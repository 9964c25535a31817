"""Which addresses the platform may call on a user's behalf: pure functions, no I/O.

The SSRF rules of webhooks and push endpoints (see outbound.py for where they are applied):
the stdlib `ipaddress` properties, every numeric spelling of an address, local names.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
LOCAL_NAMES = ("localhost", "localhost.localdomain")


class BlockedTarget(Exception):
    """The target resolves to an address the platform does not call (the text is neutral)."""


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    return None


def is_public(address: IPAddress) -> bool:
    """Whether the platform may connect to this address (stdlib `ipaddress` properties).

    Refused: loopback, private (RFC 1918, ULA), link-local, CGNAT (100.64/10), multicast,
    reserved, unspecified, site-local, documentation and benchmarking ranges, and any IPv6
    address that embeds a refused IPv4 one (IPv4-mapped, NAT64, 6to4, Teredo).
    """
    if (inner := embedded_ipv4(address)) is not None and not is_public(inner):
        return False
    refused = (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )
    return address.is_global and not refused


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host spells, in any form a resolver accepts: `127.0.0.1`, `::1`,
    `2130706433`, `0x7f000001`, `127.1`, `0177.0.0.1`, `0` (inet_aton's forms). None for a name.

    Raises BlockedTarget when the host is all numeric labels that do not make a valid address."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if all(label and (label.isdigit() or label.lower().startswith("0x")) for label in labels):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise BlockedTarget("the address is not a valid number") from None
    return None


def canonical_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets, IDNA-encoded.

    Raises BlockedTarget when the name cannot be IDNA-encoded."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise BlockedTarget("the host name is not valid") from None


def check_host(host: str, *, allow_loopback: bool) -> IPAddress | None:
    """A host checked without any lookup: the address a numeric host spells, None for a name.

    Raises `BlockedTarget` for a refused address (see `is_public`; loopback passes only with
    `allow_loopback`) and for local names (`localhost`, `*.localhost`, any case, trailing dot).
    """
    host = canonical_host(host)
    address = numeric_host(host)
    if address is not None:
        if not address_allowed(address, allow_loopback=allow_loopback):
            raise BlockedTarget("the target address is not public")
        return address
    if not allow_loopback and (host in LOCAL_NAMES or host.endswith(".localhost")):
        raise BlockedTarget("the target address is not public")
    return None


def address_allowed(address: IPAddress, *, allow_loopback: bool) -> bool:
    inner = embedded_ipv4(address)
    return is_public(address) or (allow_loopback and (inner or address).is_loopback)
