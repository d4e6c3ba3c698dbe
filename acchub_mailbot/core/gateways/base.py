"""What a link gateway is to the unwrapper: a family name, one reversing step, and whether its
links are opaque (cannot be reversed offline, so the visible text must be used instead).

The string helpers here are shared by the gateway modules; none of them follows a link.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: One undone wrapper: the inner URL and the name reported in ``Unwrapped.wrappers``.
Step = tuple[str, str]


def _never(url: str) -> bool:
    return False


@dataclass(frozen=True)
class Gateway:
    """A link-rewriting gateway family, as the unwrapper sees it."""

    family: str
    unwrap: Callable[[str], Step | None]
    opaque: Callable[[str], bool] = _never


def host_of(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def query_param(url: str, name: str) -> str | None:
    """The raw (still percent-encoded) value of a query parameter; ``&`` is the only separator."""
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return None
    for piece in query.split("&"):
        key, sep, value = piece.partition("=")
        if sep and key.lower() == name:
            return value
    return None


def token(url: str, salt: str, size: int = 24) -> str:
    """A stable opaque-looking value, so generated test mail is reproducible."""
    digest = hashlib.sha256((salt + url).encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:size]
