"""Check Point Harmony Email (Avanan): ``https://url.avanan.click/v2/___<url>___.<token>``.
The original URL is written out between triple underscores, so the generic net would keep the
token as part of it; this module cuts it exactly."""

from __future__ import annotations

import re

from acchub_mailbot.core.gateways.base import Gateway, Step, host_of, token

_WRAPPED = re.compile(r"(?is)^https://[^/]+/v\d+/___(?P<url>https?://.+?)___\.[A-Za-z0-9+/=_-]+$")


def unwrap_avanan(url: str) -> Step | None:
    if not host_of(url).endswith("avanan.click"):
        return None
    match = _WRAPPED.match(url.strip())
    return (match.group("url"), "avanan") if match else None


def avanan_wrap(url: str) -> str:
    """Wrap like Harmony Email's link protection, for tests."""
    return f"https://url.avanan.click/v2/___{url}___.{token(url, 'avanan', 40)}"


GATEWAY = Gateway("avanan", unwrap_avanan)
