"""Bing's click redirect (``www.bing.com/ck/a?...&u=a1<base64url>``), as search results pasted
into mail carry it. Bing is a Microsoft host, which the generic net leaves alone, so it is
reversed here: the ``u`` value is ``a1`` followed by the URL in base64url without padding."""

from __future__ import annotations

import base64

from acchub_mailbot.core.gateways.base import Gateway, Step, host_of, query_param
from acchub_mailbot.core.gateways.generic import decode_value


def unwrap_bing(url: str) -> Step | None:
    host = host_of(url)
    if host not in ("bing.com", "www.bing.com", "cn.bing.com") or "/ck/a" not in url:
        return None
    value = query_param(url, "u")
    if not value or not value.startswith("a1"):
        return None
    found = decode_value(value[2:])
    return (found[0], f"bing ({found[1]})") if found else None


def bing_wrap(url: str) -> str:
    """Wrap like a Bing result link, for tests."""
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return f"https://www.bing.com/ck/a?!&&p=0a1b2c3d&ptn=3&ver=2&u=a1{encoded}&ntb=1"


GATEWAY = Gateway("bing", unwrap_bing)
