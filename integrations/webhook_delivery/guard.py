"""Which IP addresses a webhook may be sent to.

Everything that is not a public unicast address is refused: private (RFC 1918, ULA),
loopback, link-local, CGNAT (100.64.0.0/10), multicast, reserved/unspecified, and the cloud
metadata addresses. IPv4-mapped / NAT64 / 6to4 IPv6 forms are unwrapped and judged as the
IPv4 address they carry, so `::ffff:10.0.0.1` is as private as `10.0.0.1`.

An allow-list (settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS; dev and tests only) lets
otherwise refused networks through, e.g. 127.0.0.0/8 for receivers on this machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Explicit ranges, because `is_global` alone misses some and differs between Python versions.
_BLOCKED_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
)]  # fmt: skip
_BLOCKED_V6 = [ipaddress.ip_network(n) for n in (
    "::/128", "::1/128", "::/96", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
)]  # fmt: skip
# Instance metadata services (AWS/GCP/Azure/OpenStack share 169.254.169.254; AWS IPv6 below).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


class BlockedAddress(Exception):
    """The destination address is not a public unicast address and is not allow-listed."""


def parse_networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v and v.strip()]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal_reason(address: str | IPAddress, allowed: Iterable = ()) -> str | None:
    """Why `address` may not be contacted, or None if it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%")[0])
    judged = ip
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            judged = embedded
    for network in allowed:
        if judged.version == network.version and judged in network:
            return None
    if judged in METADATA_ADDRESSES or ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    blocked = _BLOCKED_V4 if judged.version == 4 else _BLOCKED_V6
    for network in blocked:
        if judged in network:
            return f"{ip} is in the non-public range {network}"
    if judged.is_multicast or judged.is_reserved or judged.is_unspecified or judged.is_loopback or judged.is_link_local:
        return f"{ip} is not a public unicast address"
    if not judged.is_global:
        return f"{ip} is not a globally routable address"
    return None


def check_address(address: str | IPAddress, allowed: Iterable = ()) -> None:
    reason = refusal_reason(address, allowed)
    if reason is not None:
        raise BlockedAddress(reason)
