"""Which addresses the live URL check may connect to: the SSRF address rules."""

from __future__ import annotations

import re
from ipaddress import ip_address

import pytest

from acchub_mailbot.verify.netguard import is_allowed, parse_networks, refusal_reason

REFUSED = [
    # (address, words the reason must contain)
    ("127.0.0.1", "127.0.0.0/8 (loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.5", "10.0.0.0/8 (private network, RFC 1918"),
    ("172.16.0.1", "172.16.0.0/12 (private"),
    ("172.31.255.255", "172.16.0.0/12 (private"),
    ("192.168.1.1", "192.168.0.0/16 (private"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "169.254.0.0/16 (link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "0.0.0.0/8"),
    ("100.64.0.1", "100.64.0.0/10 (shared address space"),
    ("100.127.255.255", "shared address space"),
    ("198.18.0.1", "198.18.0.0/15 (benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("192.0.2.10", "documentation (TEST-NET-1)"),
    ("198.51.100.7", "documentation (TEST-NET-2)"),
    ("203.0.113.9", "documentation (TEST-NET-3)"),
    ("192.0.0.9", "IETF protocol assignments"),
    ("192.88.99.1", "6to4 relay"),
    ("224.0.0.1", "224.0.0.0/4 (multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "240.0.0.0/4 (reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "::1/128 (loopback"),
    ("fc00::1", "fc00::/7 (unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "fe80::/10 (link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "ff00::/8 (multicast"),
    ("2001:db8::1", "2001:db8::/32 (documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("100::1", "discard-only"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("5f00::1", "outside the global unicast block"),
    ("::127.0.0.1", "IPv4-compatible"),
    # IPv4 carried inside IPv6: judged by the IPv4 address it carries.
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1; 127.0.0.1 is in 127.0.0.0/8 (loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254; 169.254.169.254 is in"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3"),
    ("64:ff9b::10.0.0.5", "NAT64 form of 10.0.0.5"),
    ("64:ff9b::169.254.169.254", "NAT64 form of 169.254.169.254"),
    ("2002:c0a8:0101::1", "6to4 form of 192.168.1.1"),
    ("2002:7f00:0001::", "6to4 form of 127.0.0.1"),
    # Teredo: server 65.54.227.120 (public), obfuscated client 192.0.2.45 (documentation).
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo form of 192.0.2.45"),
    # Teredo whose server part is loopback.
    ("2001:0:7f00:1::", "Teredo form of 127.0.0.1"),
    ("not-an-address", "not an IP address"),
    ("", "not an IP address"),
]

ALLOWED = [
    "13.107.246.45",
    "20.190.151.7",
    "8.8.8.8",
    "1.1.1.1",
    "2620:1ec:bdf::45",
    "2606:4700::1111",
    "::ffff:13.107.246.45",
    "64:ff9b::808:808",
    "2002:0808:0808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo with public server and client 8.8.8.8
]


@pytest.mark.parametrize(("address", "words"), REFUSED)
def test_special_addresses_are_refused_with_a_reason_naming_the_range(
    address: str, words: str
) -> None:
    """Every special-purpose address is refused, and the reason tells which range it is in."""
    reason = refusal_reason(address)
    assert reason is not None
    assert words in reason
    assert not is_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    """Globally routable unicast addresses, and wrappers around them, may be connected to."""
    assert refusal_reason(address) is None
    assert is_allowed(address)


def test_address_objects_are_accepted_as_well_as_strings() -> None:
    """Callers holding ``ipaddress`` objects get the same answer as with strings."""
    assert refusal_reason(ip_address("10.0.0.5")) == refusal_reason("10.0.0.5")
    assert refusal_reason(ip_address("13.107.246.45")) is None


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"], True),
        ("127.8.9.10", ["127.0.0.0/8"], True),
        ("::ffff:127.0.0.1", ["127.0.0.0/8"], True),
        ("10.0.0.5", ["127.0.0.0/8"], False),
        ("169.254.169.254", ["127.0.0.0/8"], False),
        ("::1", ["127.0.0.0/8"], False),
        ("::1", ["::1/128"], True),
        ("10.20.30.40", ["10.20.30.0/24"], True),
        ("10.20.31.40", ["10.20.30.0/24"], False),
        ("192.168.1.1", ["127.0.0.0/8", "192.168.1.0/24"], True),
    ],
)
def test_allow_list_opens_only_the_configured_networks(
    address: str, networks: list[str], allowed: bool
) -> None:
    """An explicit allow-list admits its own networks and nothing else."""
    assert is_allowed(address, parse_networks(networks)) is allowed


def test_allow_list_entry_with_host_bits_is_accepted() -> None:
    """``127.0.0.1/8`` is read as the network 127.0.0.0/8 rather than rejected."""
    (network,) = parse_networks(["127.0.0.1/8"])
    assert str(network) == "127.0.0.0/8"


def test_invalid_allow_list_entry_names_the_entry() -> None:
    """A typo in the configuration is reported with the offending value."""
    with pytest.raises(ValueError, match=re.escape("'127.0.0/33'")):
        parse_networks(["127.0.0.0/8", "127.0.0/33"])
