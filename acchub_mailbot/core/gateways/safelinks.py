"""Microsoft Defender Safe Links, in every region and in the government clouds: the original URL
is the ``url=`` query value, percent-encoded once."""

from __future__ import annotations

from urllib.parse import quote, unquote

from acchub_mailbot.core.gateways.base import Gateway, Step, host_of, query_param, token

SAFELINKS_SUFFIXES = (".safelinks.protection.outlook.com", ".safelinks.protection.office365.us")


def is_safelinks(url: str) -> bool:
    """Any regional Safe Links host; the list of regions is open-ended, so match the suffix."""
    return host_of(url).endswith(SAFELINKS_SUFFIXES)


def unwrap_safelinks(url: str) -> Step | None:
    if not is_safelinks(url):
        return None
    value = query_param(url, "url")
    return (unquote(value), "safelinks") if value else None


def safe_links_wrap(
    url: str, *, region: str = "eur02", recipient: str = "accountant@example.com"
) -> str:
    """Wrap like Microsoft Defender Safe Links: ``url`` percent-encoded once, plus noise."""
    data = "%7C".join(
        ("05", "01", quote(recipient, safe=""), token(url, "g", 32), token(url, "t", 32))
    )
    return (
        f"https://{region}.safelinks.protection.outlook.com/?url={quote(url, safe='')}"
        f"&data={data}%7C0%7C0%7C638000000000000000%7CUnknown%7C%7C3000%7C%7C%7C"
        f"&sdata={quote(token(url, 's', 43), safe='')}%3D&reserved=0"
    )


GATEWAY = Gateway("safelinks", unwrap_safelinks)
