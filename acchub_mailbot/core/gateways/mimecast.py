"""Mimecast URL Protect: an opaque token on ``protect-<region>.mimecast.com``. It cannot be
reversed offline, so its links are marked opaque and the visible anchor text is used instead."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from acchub_mailbot.core.gateways.base import Gateway, Step, host_of, token

_MIMECAST_HOST = re.compile(r"^protect(?:-[a-z0-9]+)?\.mimecast\.com$")


def is_mimecast(url: str) -> bool:
    """``https://protect-<region>.mimecast.com/s/<token>``: cannot be reversed offline."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return bool(_MIMECAST_HOST.match((parts.hostname or "").lower())) and parts.path.startswith(
        "/s/"
    )


def mimecast_domain(url: str) -> str | None:
    """The ``domain=`` hint of a Mimecast link: a host name to *hint*, never a link to use."""
    if not is_mimecast(url):
        return None
    match = re.search(r"[?&]domain=([^&#]*)", url)
    return unquote(match.group(1)).lower() or None if match else None


def mimecast_wrap(url: str, *, region: str = "eu", key: str | None = None) -> str:
    """Rewrite like Mimecast URL Protect: an opaque token plus the host as ``domain=``. There is
    no inverse; this exists so tests can check that such links are never trusted."""
    value = key or token(url, "mc", 22)
    return f"https://protect-{region}.mimecast.com/s/{value}?domain={host_of(url)}"


def _no_step(url: str) -> Step | None:
    return None


GATEWAY = Gateway("mimecast", _no_step, opaque=is_mimecast)
