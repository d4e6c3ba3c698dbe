"""Links in an email, with mail-gateway rewrites undone offline.

Gateways replace every link with one of their own (Microsoft Safe Links, Proofpoint URL Defense),
sometimes twice. Those wrappers carry the original URL and are reversed here purely from the
string, never by following the link, one gateway module at a time (``core/gateways/``). Mimecast
cannot be reversed offline: such links are marked ``opaque`` so the caller falls back to the
visible anchor text. The ``*_wrap`` functions, the inverses for tests and for generating test
mail, live with their gateways and are re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from urllib.parse import urlsplit

from acchub_mailbot.core.gateways import GATEWAYS, Step
from acchub_mailbot.core.gateways.mimecast import is_mimecast, mimecast_domain, mimecast_wrap
from acchub_mailbot.core.gateways.proofpoint import (
    V3_RUN_ALPHABET,
    proofpoint_v1_wrap,
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
)
from acchub_mailbot.core.gateways.safelinks import SAFELINKS_SUFFIXES, is_safelinks, safe_links_wrap
from acchub_mailbot.core.htmltext import html_to_text

#: Wrappers nested deeper than this are left as they are (a loop guard, not a real-world limit).
MAX_UNWRAP_DEPTH = 8

#: Bare URLs in text stop at whitespace and at characters that cannot be part of a written URL.
_BARE_URL = re.compile(r"""(?i)\b(?:https?|hxxps?)://[^\s<>"\[\]{}|\\^`]+""")
#: What follows a URL cut by a hard wrap: the line ends, the next (perhaps ``>``-quoted) starts
#: with URL characters.
_CONTINUED = re.compile(r"""\r?\n(?:[ \t]*>)*[ \t]*([^\s<>"\[\]{}|\\^`]+)""")
#: Mail clients hard-wrap text at 72 to 78 columns; a URL that ends a shorter line ended there.
WRAP_COLUMN = 60
#: URLs in angle brackets (RFC 3986 appendix C, Outlook's "text<URL>") may contain spaces.
_ANGLE_URL = re.compile(r"""(?i)<((?:https?)://(?:[^<>"\n]|\n(?:[ \t]*>)*)+)>""")
#: A line break inside ``<...>`` with the indentation (or ``>`` quoting) after it: a hard wrap
#: (RFC 3986 appendix C), not part of the URL. Single spaces stay (the hub filter holds some).
_WRAP_BREAK = re.compile(r"[ \t]*\r?\n(?:[ \t]*>)*[ \t]*")
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
    gateway rewrites undone; ``source`` is ``"href"``, ``"text"`` (a URL the HTML's text shows,
    or a text-only message's) or ``"plain"`` (a text/plain part beside an HTML part).
    """

    href: str
    text: str
    unwrapped: str
    wrappers: tuple[str, ...] = ()
    opaque: bool = False
    source: str = "href"
    #: A bare text URL that ran to the end of its line with more URL-like text right below:
    #: perhaps a hard wrap cut it there.
    cut: bool = False
    #: For a ``cut`` link, the URL characters that start the next line; for a :func:`joined`
    #: one, the part that was put back.
    continued: str = ""

    @property
    def first_line(self) -> str:
        """How much of the link its first line shows: for a joined link, ``href`` without the
        part put back from the next line; otherwise ``href`` itself."""
        if self.continued and not self.cut:
            return self.href[: len(self.href) - len(self.continued)]
        return self.href


#: ``Link.source`` of URLs from a message's text/plain part.
PLAIN_PART = "plain"


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _unwrap_once(url: str) -> Step | None:
    """``(inner url, wrapper name)`` when ``url`` is a reversible wrapper, else ``None``."""
    for gateway in GATEWAYS:
        step = gateway.unwrap(url)
        if step is not None:
            return step
    return None


def _opaque(url: str) -> bool:
    return any(gateway.opaque(url) for gateway in GATEWAYS)


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
    return Unwrapped(current, tuple(wrappers), _opaque(current))


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


def link_for(href: str, text: str, source: str) -> Link:
    """The link as found, with its gateway rewrites undone."""
    result = unwrap(href)
    return Link(href, text, result.url, result.wrappers, result.opaque, source)


def links_from_text(text: str, source: str = "text") -> tuple[Link, ...]:
    """URLs written in plain text: bare, and in ``<...>`` (which may contain spaces)."""
    found: list[Link] = []
    taken: list[tuple[int, int]] = []
    for match in _ANGLE_URL.finditer(text):
        joined = _WRAP_BREAK.sub("", match.group(1).strip())
        found.append(link_for(joined.replace("&amp;", "&"), "", source))
        taken.append(match.span(1))
    for match in _BARE_URL.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        url = _clean_text_url(match.group(0))
        if url:
            link = link_for(url, "", source)
            more = _CONTINUED.match(text, match.end())
            if more and match.end() - (text.rfind("\n", 0, match.start()) + 1) >= WRAP_COLUMN:
                # What the cleaning took off the end (a dot, say) belongs to the cut URL.
                rest = match.group(0)[len(url) :] if match.group(0).startswith(url) else ""
                link = replace(link, cut=True, continued=rest + _clean_text_url(more.group(1)))
            found.append(link)
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
        link_for(href, text, "href")
        for href, text in collector.anchors
        # javascript: and data: anchors stay: one whose text shows a URL is a lie to catch.
        if not href.lower().startswith(("mailto:", "tel:", "#", "cid:"))
    )
    return anchors + links_from_text(html_to_text(markup))


def extract_links(html_body: str, text_body: str) -> tuple[Link, ...]:
    """All links of a message's HTML and plain-text bodies, duplicates removed."""
    seen: set[tuple[str, str, bool]] = set()
    out: list[Link] = []
    for link in links_from_html(html_body) + links_from_text(text_body, PLAIN_PART):
        key = (link.href, link.text, link.source == "href")
        if key not in seen:
            seen.add(key)
            out.append(link)
    return tuple(out)


__all__ = [
    "PLAIN_PART",
    "SAFELINKS_SUFFIXES",
    "V3_RUN_ALPHABET",
    "Link",
    "Unwrapped",
    "extract_links",
    "is_mimecast",
    "is_safelinks",
    "link_for",
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
