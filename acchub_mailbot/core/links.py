"""Links in an email, with mail-gateway rewrites undone offline.

Gateways replace every link with one of their own (Microsoft Safe Links, Proofpoint URL Defense),
sometimes twice. Those wrappers carry the original URL and are reversed here purely from the
string, never by following the link. Mimecast cannot be reversed offline: such links are marked
``opaque`` so the caller falls back to the visible anchor text. The ``*_wrap`` functions are the
inverses, for tests and for generating test mail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urlsplit

from acchub_mailbot.core.htmltext import html_to_text

#: Wrappers nested deeper than this are left as they are (a loop guard, not a real-world limit).
MAX_UNWRAP_DEPTH = 8

SAFELINKS_SUFFIXES = (".safelinks.protection.outlook.com", ".safelinks.protection.office365.us")
_PROOFPOINT = re.compile(r"^https?://urldefense(?:\.proofpoint)?\.com/(v[0-9])/", re.IGNORECASE)
_PP_V1_U = re.compile(r"[?&]u=(?P<u>.+?)&k=", re.DOTALL)
_PP_V2_U = re.compile(r"[?&]u=(?P<u>.+?)&[dc]=", re.DOTALL)
_PP_ANY_U = re.compile(r"[?&]u=(?P<u>[^&]*)")
_PP_V3 = re.compile(r"v3/__(?P<url>.+?)__;(?P<enc>.*?)!", re.DOTALL)
#: The run-length alphabet of Proofpoint v3: ``**A`` is a run of 2, ``**B`` of 3, ...
V3_RUN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_MIMECAST_HOST = re.compile(r"^protect(?:-[a-z0-9]+)?\.mimecast\.com$")

#: Bare URLs in text stop at whitespace and at characters that cannot be part of a written URL.
_BARE_URL = re.compile(r"""(?i)\b(?:https?|hxxps?)://[^\s<>"\[\]{}|\\^`]+""")
#: URLs in angle brackets (RFC 3986 appendix C, Outlook's "text<URL>") may contain spaces.
_ANGLE_URL = re.compile(r"""(?i)<((?:https?)://[^<>\r\n"]+)>""")
_TRAILING = ".,;:!?)]}'\u201d\u2019*"


@dataclass(frozen=True)
class Unwrapped:
    """The result of undoing wrappers: the innermost URL and the wrappers removed, outermost
    first. ``opaque`` means an irreversible wrapper (Mimecast) was reached."""

    url: str
    wrappers: tuple[str, ...] = ()
    opaque: bool = False


@dataclass(frozen=True)
class Link:
    """One link found in a message.

    ``href`` is the link as written (an ``href`` attribute, or the URL in the text); ``text`` is
    the visible anchor text (empty for links found in text); ``unwrapped`` is ``href`` with
    gateway rewrites undone; ``source`` is ``"href"`` or ``"text"``.
    """

    href: str
    text: str
    unwrapped: str
    wrappers: tuple[str, ...] = ()
    opaque: bool = False
    source: str = "href"


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def is_safelinks(url: str) -> bool:
    """Any regional Safe Links host; the list of regions is open-ended, so match the suffix."""
    return _host(url).endswith(SAFELINKS_SUFFIXES)


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


def _query_param(url: str, name: str) -> str | None:
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


def _unwrap_safelinks(url: str) -> str | None:
    value = _query_param(url, "url")
    return unquote(value) if value else None


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
    match = _PP_V3.search(url)
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


def _unwrap_once(url: str) -> tuple[str, str] | None:
    """``(inner url, wrapper name)`` when ``url`` is a reversible wrapper, else ``None``."""
    if is_safelinks(url):
        inner = _unwrap_safelinks(url)
        return (inner, "safelinks") if inner else None
    match = _PROOFPOINT.match(url.strip())
    if match:
        version = match.group(1).lower()
        decoder = {"v1": _unwrap_v1, "v2": _unwrap_v2, "v3": _unwrap_v3}.get(version)
        inner = decoder(url.strip()) if decoder else None
        return (inner, f"proofpoint-{version}") if inner else None
    if re.match(r"(?i)^https?%3a%2f%2f", url.strip()):
        return unquote(url.strip()), "percent-encoding"
    return None


def unwrap(url: str, *, max_depth: int = MAX_UNWRAP_DEPTH) -> Unwrapped:
    """Undo gateway wrappers (Safe Links, Proofpoint v1/v2/v3, chains of them); never raises."""
    wrappers: list[str] = []
    current = url
    for _ in range(max_depth):
        try:
            step = _unwrap_once(current)
        except Exception:  # hostile input must leave the link as it is
            step = None
        if step is None:
            break
        current, name = step
        wrappers.append(name)
    return Unwrapped(current, tuple(wrappers), is_mimecast(current))


def _clean_text_url(url: str) -> str:
    url = url.replace("&amp;", "&")
    if url[:4].lower() == "hxxp":
        url = "http" + url[4:]
    while url and url[-1] in _TRAILING:
        # Keep a closing parenthesis that has its opening one inside the URL.
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _link(href: str, text: str, source: str) -> Link:
    result = unwrap(href)
    return Link(href, text, result.url, result.wrappers, result.opaque, source)


def links_from_text(text: str) -> tuple[Link, ...]:
    """URLs written in plain text: bare, and in ``<...>`` (which may contain spaces)."""
    found: list[Link] = []
    taken: list[tuple[int, int]] = []
    for match in _ANGLE_URL.finditer(text):
        found.append(_link(match.group(1).strip().replace("&amp;", "&"), "", "text"))
        taken.append(match.span(1))
    for match in _BARE_URL.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        url = _clean_text_url(match.group(0))
        if url:
            found.append(_link(url, "", "text"))
    return tuple(found)


class _AnchorCollector(HTMLParser):
    """``href``s of ``<a>`` elements with their visible text (entities already decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            href = next((v for k, v in attrs if k == "href" and v), None)
            if href is not None:
                if tag == "area":
                    self.anchors.append((href.strip(), ""))
                else:
                    self._open.append((href.strip(), []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            self._finish()

    def handle_data(self, data: str) -> None:
        for _href, text in self._open:
            text.append(data)

    def _finish(self) -> None:
        href, text = self._open.pop()
        self.anchors.append((href, " ".join("".join(text).split())))

    def close(self) -> None:
        super().close()
        while self._open:
            self._finish()


def links_from_html(markup: str) -> tuple[Link, ...]:
    """Anchors (``href`` + visible text) in document order, then URLs written in the text."""
    collector = _AnchorCollector()
    try:
        collector.feed(markup)
        collector.close()
    except Exception:  # noqa: S110 - keep what was collected before the parser gave up
        pass
    anchors = tuple(
        _link(href, text, "href")
        for href, text in collector.anchors
        if not href.lower().startswith(("mailto:", "tel:", "#", "cid:", "javascript:"))
    )
    return anchors + links_from_text(html_to_text(markup))


def extract_links(html_body: str, text_body: str) -> tuple[Link, ...]:
    """All links of a message's HTML and plain-text bodies, duplicates removed."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Link] = []
    for link in links_from_html(html_body) + links_from_text(text_body):
        key = (link.href, link.text, link.source)
        if key not in seen:
            seen.add(key)
            out.append(link)
    return tuple(out)


# --- The inverse operations: wrap a URL the way each gateway does. --------------------------------


def _token(url: str, salt: str, size: int = 24) -> str:
    """A stable opaque-looking value, so generated test mail is reproducible."""
    digest = hashlib.sha256((salt + url).encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:size]


def safe_links_wrap(
    url: str, *, region: str = "eur02", recipient: str = "accountant@example.com"
) -> str:
    """Wrap like Microsoft Defender Safe Links: ``url`` percent-encoded once, plus noise."""
    data = "%7C".join(
        ("05", "01", quote(recipient, safe=""), _token(url, "g", 32), _token(url, "t", 32))
    )
    return (
        f"https://{region}.safelinks.protection.outlook.com/?url={quote(url, safe='')}"
        f"&data={data}%7C0%7C0%7C638000000000000000%7CUnknown%7C%7C3000%7C%7C%7C"
        f"&sdata={quote(_token(url, 's', 43), safe='')}%3D&reserved=0"
    )


def proofpoint_v1_wrap(url: str) -> str:
    """Wrap like Proofpoint URL Defense v1 (the decoder HTML-unescapes, so escape first)."""
    encoded = quote(html.escape(url, quote=False), safe="")
    return (
        f"https://urldefense.proofpoint.com/v1/url?u={encoded}&k={_token(url, 'k', 22)}"
        f"&r={_token(url, 'r', 30)}&m={_token(url, 'm', 30)}&s={_token(url, 's', 30)}"
    )


def proofpoint_v2_wrap(url: str) -> str:
    """Wrap like Proofpoint v2: percent-encode, ``-``/``_`` escaped as ``-2D``/``-5F``, then
    ``%`` -> ``-`` and ``/`` -> ``_``."""
    encoded = quote(html.escape(url, quote=False), safe="/")
    encoded = encoded.replace("-", "%2D").replace("_", "%5F")
    encoded = encoded.replace("%", "-").replace("/", "_")
    return (
        f"https://urldefense.proofpoint.com/v2/url?u={encoded}&d=DwMFaQ&c={_token(url, 'c', 22)}"
        f"&r={_token(url, 'r', 43)}&m={_token(url, 'm', 43)}&s={_token(url, 's', 43)}&e="
    )


def mimecast_wrap(url: str, *, region: str = "eu", key: str | None = None) -> str:
    """Rewrite like Mimecast URL Protect: an opaque token plus the host as ``domain=``. There is
    no inverse; this exists so tests can check that such links are never trusted."""
    token = key or _token(url, "mc", 22)
    return f"https://protect-{region}.mimecast.com/s/{token}?domain={_host(url)}"


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
        f"https://urldefense.com/v3/__{body}__;{enc}!!{_token(url, 'c', 12)}"
        f"!{_token(url, 'sig', 40)}$"
    )


__all__ = [
    "Link",
    "Unwrapped",
    "extract_links",
    "is_mimecast",
    "is_safelinks",
    "links_from_html",
    "links_from_text",
    "mimecast_domain",
    "mimecast_wrap",
    "proofpoint_v1_wrap",
    "proofpoint_v2_wrap",
    "proofpoint_v3_wrap",
    "safe_links_wrap",
    "unwrap",
]
