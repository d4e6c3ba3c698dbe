"""Proofpoint URL Defense, versions 1, 2 and 3 (``urldefense.proofpoint.com``, ``urldefense.com``).

v1 percent-encodes the URL in ``u=``; v2 also maps ``%`` to ``-`` and ``/`` to ``_``; v3 keeps
the URL readable between ``__`` markers and moves the characters it must not show into a
base64url tail, replacing each with ``*`` (or ``**X`` for a run). Each is reversed exactly.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import quote, unquote

from acchub_mailbot.core.gateways.base import Gateway, Step, token

_PROOFPOINT = re.compile(r"^https?://urldefense(?:\.proofpoint)?\.com/(v[0-9])/", re.IGNORECASE)
_PP_V1_U = re.compile(r"[?&]u=(?P<u>.+?)&k=", re.DOTALL)
_PP_V2_U = re.compile(r"[?&]u=(?P<u>.+?)&[dc]=", re.DOTALL)
_PP_ANY_U = re.compile(r"[?&]u=(?P<u>[^&]*)")
_PP_V3 = re.compile(r"v3/__(?P<url>.+?)__;(?P<enc>.*?)!", re.DOTALL)
#: The whole v3 link with its ``!!<customer>!<signature>$`` tail: the URL part runs to the last
#: ``__;`` so that a v3 link wrapped again by v3 (a forward between two customers) stays whole.
_PP_V3_WHOLE = re.compile(
    r"v3/__(?P<url>.+)__;(?P<enc>[A-Za-z0-9_-]*)!![A-Za-z0-9_-]+![A-Za-z0-9_-]*\$?\s*$", re.DOTALL
)
#: The run-length alphabet of Proofpoint v3: ``**A`` is a run of 2, ``**B`` of 3, ...
V3_RUN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _unwrap_v1(url: str) -> str | None:
    match = _PP_V1_U.search(url) or _PP_ANY_U.search(url)
    return html.unescape(unquote(match.group("u"))) if match else None


def _unwrap_v2(url: str) -> str | None:
    match = _PP_V2_U.search(url) or _PP_ANY_U.search(url)
    if not match:
        return None
    encoded = match.group("u").replace("-", "%").replace("_", "/")
    return html.unescape(unquote(encoded))


def _unwrap_v3(url: str) -> str | None:
    match = _PP_V3_WHOLE.search(url) or _PP_V3.search(url)
    if not match:
        return None
    template = unquote(match.group("url"))
    enc = match.group("enc")
    try:
        chars = base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(template):
        if template.startswith("**", i) and i + 2 < len(template):
            run = V3_RUN_ALPHABET.find(template[i + 2])
            if run >= 0:
                count = run + 2
                if pos + count > len(chars):
                    return None
                out.append(chars[pos : pos + count])
                pos += count
                i += 3
                continue
        if template[i] == "*":
            if pos >= len(chars):
                return None
            out.append(chars[pos])
            pos += 1
        else:
            out.append(template[i])
        i += 1
    return "".join(out)


def unwrap_proofpoint(url: str) -> Step | None:
    match = _PROOFPOINT.match(url.strip())
    if not match:
        return None
    version = match.group(1).lower()
    decoder = {"v1": _unwrap_v1, "v2": _unwrap_v2, "v3": _unwrap_v3}.get(version)
    inner = decoder(url.strip()) if decoder else None
    return (inner, f"proofpoint-{version}") if inner else None


def proofpoint_v1_wrap(url: str) -> str:
    """Wrap like Proofpoint URL Defense v1 (the decoder HTML-unescapes, so escape first)."""
    encoded = quote(html.escape(url, quote=False), safe="")
    return (
        f"https://urldefense.proofpoint.com/v1/url?u={encoded}&k={token(url, 'k', 22)}"
        f"&r={token(url, 'r', 30)}&m={token(url, 'm', 30)}&s={token(url, 's', 30)}"
    )


def proofpoint_v2_wrap(url: str) -> str:
    """Wrap like Proofpoint v2: percent-encode, ``-``/``_`` escaped as ``-2D``/``-5F``, then
    ``%`` -> ``-`` and ``/`` -> ``_``."""
    encoded = quote(html.escape(url, quote=False), safe="/")
    encoded = encoded.replace("-", "%2D").replace("_", "%5F")
    encoded = encoded.replace("%", "-").replace("/", "_")
    return (
        f"https://urldefense.proofpoint.com/v2/url?u={encoded}&d=DwMFaQ&c={token(url, 'c', 22)}"
        f"&r={token(url, 'r', 43)}&m={token(url, 'm', 43)}&s={token(url, 's', 43)}&e="
    )


#: Characters Proofpoint v3 must take out of the URL text: its own markers, ``%`` (the URL text
#: is percent-decoded before the tokens are filled in) and anything outside printable ASCII.
_V3_SUBSTITUTED = frozenset("*%")
#: Printable characters that v3 writes percent-encoded, so the ``__;`` and ``!`` framing holds.
_V3_ESCAPED = frozenset(" \"<>\\^`{|}';!$")


def proofpoint_v3_wrap(url: str) -> str:
    """Wrap like Proofpoint v3: ``__<url with * tokens>__;<base64url chars>!!<token>!<sig>$``."""
    pieces: list[str] = []
    taken: list[str] = []
    run: list[str] = []

    def flush() -> None:
        while run:
            count = min(len(run), len(V3_RUN_ALPHABET) + 1)
            if count == 1:
                pieces.append("*")
            else:
                pieces.append("**" + V3_RUN_ALPHABET[count - 2])
            taken.extend(run[:count])
            del run[:count]

    for char in url:
        if char in _V3_SUBSTITUTED or not (" " <= char <= "~"):
            run.append(char)
            continue
        flush()
        pieces.append(quote(char, safe="") if char in _V3_ESCAPED else char)
    flush()
    body = "".join(pieces)
    # "__" followed by ";" would end the URL early; an escaped "_" keeps the framing unambiguous.
    body = body.replace("__", "_%5F")
    enc = base64.urlsafe_b64encode("".join(taken).encode("utf-8", "surrogatepass")).decode("ascii")
    enc = enc.rstrip("=")
    return (
        f"https://urldefense.com/v3/__{body}__;{enc}!!{token(url, 'c', 12)}"
        f"!{token(url, 'sig', 40)}$"
    )


GATEWAY = Gateway("proofpoint", unwrap_proofpoint)
