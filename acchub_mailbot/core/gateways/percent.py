"""A whole URL percent-encoded (``https%3A%2F%2F…``), as some gateways and mail clients leave an
inner link once the outer wrapper is taken off."""

from __future__ import annotations

import re
from urllib.parse import unquote

from acchub_mailbot.core.gateways.base import Gateway, Step

_ENCODED_URL = re.compile(r"(?i)^https?%3a%2f%2f")


def unwrap_percent(url: str) -> Step | None:
    text = url.strip()
    return (unquote(text), "percent-encoding") if _ENCODED_URL.match(text) else None


GATEWAY = Gateway("percent-encoding", unwrap_percent)
