"""The net under the named gateways: any link on a host that is not Microsoft's may be a wrapper.

Link-protection products differ in host and parameter names but carry the original URL the same
few ways: in a query value or a path segment, percent-encoded (once or several times),
base64 or base64url (padded or not), or with Proofpoint's substitution (``-`` for ``%``, ``_``
for ``/``), or simply written out in the path. So instead of a list of vendors, every query
value and path segment is tried under those encodings, and a candidate counts only when it
decodes to a complete ``http(s)://`` URL. Repeated calls (the unwrapper's loop) undo chains.

The prefilter relies on the signatures these encodings leave in the raw text: ``%`` for
percent-encoding, ``aHR0c`` (the base64 of ``http``) at the start of a base64 run, ``-3A__`` for
the substitution, ``://`` for a URL written out. A decoder added here needs one there too.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote, urlsplit

from acchub_mailbot.core.gateways.base import Gateway, Step, host_of
from acchub_mailbot.core.linkshape import is_microsoft_host

#: Percent-decoding rounds tried on one value (gateways nest encodings two or three deep).
MAX_PERCENT_ROUNDS = 4
#: Query parameter names that, by convention, hold the destination: tried before the others.
DESTINATION_PARAMS = (
    "url",
    "u",
    "q",
    "target",
    "dest",
    "destination",
    "redirect",
    "redirect_url",
    "link",
    "l",
    "r",
    "to",
    "goto",
    "href",
    "a",
)
#: Hosts of gateways with exact decoders: when theirs fails, the payload is broken, not unknown.
NAMED_HOSTS = ("urldefense", "mimecast", "avanan.click")
#: The base64 of ``http`` is ``aHR0c`` whatever follows it, in both alphabets.
BASE64_HTTP = "aHR0c"

_URL_START = re.compile(r"(?i)^https?://[^\s/?#]")
_EMBEDDED = re.compile(r"(?i)https?://")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")
_SUBSTITUTED = re.compile(r"(?i)^https?-3a__")


def _complete(candidate: str) -> bool:
    """A whole URL: scheme, ``//``, a host, and nothing a written URL cannot contain.

    Plain spaces are allowed: the Accountant Hub link keeps raw spaces in its filter, so a
    gateway that percent-encodes it hands back spaces once decoded. Line breaks and other
    control characters never belong to one link."""
    if not _URL_START.match(candidate) or any(
        (c.isspace() and c != " ") or ord(c) < 32 for c in candidate
    ):
        return False
    return bool(host_of(candidate))


def _percent(value: str) -> tuple[str, int] | None:
    current = value
    for rounds in range(1, MAX_PERCENT_ROUNDS + 1):
        decoded = unquote(current)
        if decoded == current:
            return None
        if _complete(decoded):
            return decoded, rounds
        current = decoded
    return None


def _base64(value: str) -> tuple[str, str] | None:
    text = unquote(value) if "%" in value else value
    if not text.startswith(BASE64_HTTP) or not _BASE64.match(text):
        return None
    urlsafe = "-" in text or "_" in text
    padded = text.endswith("=")
    data = text.rstrip("=")
    data = data.replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not _complete(decoded):
        return None
    name = "base64url" if urlsafe else "base64"
    return decoded, name + ("" if padded or len(data) % 4 == 0 else " without padding")


def _substituted(value: str) -> str | None:
    if not _SUBSTITUTED.match(value):
        return None
    decoded = unquote(value.replace("-", "%").replace("_", "/"))
    return decoded if _complete(decoded) else None


def decode_value(value: str) -> tuple[str, str] | None:
    """``(url, encoding undone)`` when one value carries a whole URL, else ``None``."""
    if _complete(value):
        return value, "written out"
    percent = _percent(value)
    if percent is not None:
        url, rounds = percent
        return url, "percent-encoding" if rounds == 1 else f"percent-encoding x{rounds}"
    found = _base64(value)
    if found is not None:
        return found
    substituted = _substituted(value)
    if substituted is not None:
        return substituted, "Proofpoint-style substitution"
    return None


def _query_values(query: str) -> list[str]:
    pairs = [piece.partition("=") for piece in re.split(r"[&;]", query) if piece]
    named = {name.lower() for name in DESTINATION_PARAMS}
    first = [value for key, sep, value in pairs if sep and key.lower() in named]
    rest = [value for key, sep, value in pairs if sep and key.lower() not in named]
    return first + rest


def unwrap_generic(url: str) -> Step | None:
    """One embedded URL taken out of a link on a non-Microsoft host; never follows the link."""
    text = url.strip()
    host = host_of(text)
    if not host or is_microsoft_host(host.rstrip(".")) or any(n in host for n in NAMED_HOSTS):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    # A URL written out in the path runs to the end of the link, its own query included.
    after_host = text[text.lower().find(parts.netloc.lower()) + len(parts.netloc) :]
    match = _EMBEDDED.search(after_host.split("?", 1)[0])
    if match:
        embedded = after_host[match.start() :]
        if _complete(embedded):
            return embedded, f"{host} (URL in the path)"
    candidates = _query_values(parts.query) + [s for s in parts.path.split("/") if s]
    if parts.fragment:
        candidates += [*_query_values(parts.fragment), parts.fragment]
    for value in candidates:
        found = decode_value(value)
        if found is not None:
            inner, encoding = found
            return inner, f"{host} ({encoding})"
    return None


GATEWAY = Gateway("generic", unwrap_generic)
