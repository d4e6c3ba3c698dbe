"""Which IP addresses the live URL check may connect to (protection against SSRF).

A client URL comes from an email, so anyone can make the bot fetch it. Even when the host
name passes the offline rules, its DNS answer is not under our control: a name can resolve to
the loopback interface, a private network, or the cloud metadata service at 169.254.169.254.
This module decides, purely from an address and the configured allow-list, whether a
connection to that address is allowed, and words a reason naming the range when it is not.

Addresses that only wrap an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo and
NAT64 forms) are judged by the IPv4 addresses they carry, so ``::ffff:127.0.0.1`` is loopback.
Outside the named special ranges, an address must also be globally routable, and an IPv6
address must lie in the global unicast block 2000::/3: whatever is not known to be public is
refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True)
class SpecialRange:
    """A refused network and the words used for it in a refusal reason."""

    network: IPNetwork
    label: str


def _ranges(*items: tuple[str, str]) -> tuple[SpecialRange, ...]:
    return tuple(SpecialRange(ip_network(net), label) for net, label in items)


#: Refused IPv4 ranges, most specific first so that the reason names the narrowest one.
IPV4_REFUSED: tuple[SpecialRange, ...] = _ranges(
    ("169.254.169.254/32", "cloud metadata service, link-local"),
    ("0.0.0.0/8", "unspecified / 'this network'"),
    ("10.0.0.0/8", "private network, RFC 1918"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT), RFC 6598"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private network, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "6to4 relay anycast, deprecated"),
    ("192.168.0.0/16", "private network, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)

#: Refused IPv6 ranges; the IPv4-carrying forms are handled before these are consulted.
IPV6_REFUSED: tuple[SpecialRange, ...] = _ranges(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible, deprecated"),
    ("64:ff9b:1::/48", "local-use NAT64, RFC 8215"),
    ("100::/64", "discard-only, RFC 6666"),
    ("2001:2::/48", "benchmarking, RFC 5180"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation, RFC 9637"),
    ("2001::/23", "IETF protocol assignments, RFC 2928"),
    ("fc00::/7", "unique local (private), RFC 4193"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local, deprecated"),
    ("ff00::/8", "multicast"),
)

_IPV4_MAPPED = ip_network("::ffff:0:0/96")
_NAT64 = ip_network("64:ff9b::/96")
_TEREDO = ip_network("2001::/32")
_SIXTOFOUR = ip_network("2002::/16")
_GLOBAL_UNICAST = ip_network("2000::/3")


def parse_networks(specs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse allow-list entries such as ``127.0.0.0/8``; a ``ValueError`` names the bad entry."""
    networks: list[IPNetwork] = []
    for spec in specs:
        try:
            networks.append(ip_network(spec.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP network: {spec!r} ({exc})") from exc
    return tuple(networks)


def refusal_reason(
    address: str | IPAddress, allow_networks: Iterable[IPNetwork] = ()
) -> str | None:
    """``None`` when a connection to ``address`` is allowed, else why it is refused.

    An address inside one of ``allow_networks`` is always allowed: that is how tests and
    deliberate deployments reach a local server. The reason names the address and the range.
    """
    allowed = tuple(allow_networks)
    if isinstance(address, str):
        try:
            parsed: IPAddress = ip_address(address.strip().strip("[]"))
        except ValueError:
            return f"{address!r} is not an IP address"
    else:
        parsed = address
    return _reason(parsed, allowed)


def is_allowed(address: str | IPAddress, allow_networks: Iterable[IPNetwork] = ()) -> bool:
    """True when :func:`refusal_reason` has nothing against ``address``."""
    return refusal_reason(address, allow_networks) is None


def _in_allow_list(address: IPAddress, allowed: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in allowed)


def _reason(address: IPAddress, allowed: tuple[IPNetwork, ...]) -> str | None:
    if _in_allow_list(address, allowed):
        return None
    if isinstance(address, IPv4Address):
        return _ipv4_reason(address)
    # Scope IDs (fe80::1%eth0) do not change which range an address is in.
    if address.scope_id is not None:
        address = IPv6Address(int(address))
        if _in_allow_list(address, allowed):
            return None
    carried = _embedded_ipv4(address)
    for form, embedded in carried:
        inner = _reason(embedded, allowed)
        if inner is not None:
            return f"{address} is the {form} form of {embedded}; {inner}"
    if carried:
        # A wrapper around public IPv4 addresses reaches those public addresses.
        return None
    for special in IPV6_REFUSED:
        if address in special.network:
            return f"{address} is in {special.network} ({special.label})"
    if address not in _GLOBAL_UNICAST:
        return f"{address} is outside the global unicast block {_GLOBAL_UNICAST} (reserved)"
    if not address.is_global:
        return f"{address} is not a globally routable address"
    return None


def _ipv4_reason(address: IPv4Address) -> str | None:
    for special in IPV4_REFUSED:
        if address in special.network:
            return f"{address} is in {special.network} ({special.label})"
    if not address.is_global:
        return f"{address} is not a globally routable address"
    return None


def _embedded_ipv4(address: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, with the name of the form that carries it.

    Teredo carries two (the relay server and the obfuscated client); both must be allowed.
    """
    if address in _IPV4_MAPPED:
        return [("IPv4-mapped", IPv4Address(int(address) & 0xFFFFFFFF))]
    if address in _NAT64:
        return [("NAT64", IPv4Address(int(address) & 0xFFFFFFFF))]
    if address in _SIXTOFOUR:
        return [("6to4", IPv4Address((int(address) >> 80) & 0xFFFFFFFF))]
    if address in _TEREDO:
        server = IPv4Address((int(address) >> 64) & 0xFFFFFFFF)
        client = IPv4Address(~int(address) & 0xFFFFFFFF)
        return [("Teredo", server), ("Teredo", client)]
    return []
