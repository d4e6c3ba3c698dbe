"""Making text that came from an email safe to show in the mail we send.

Client names, subjects, senders, reasons and URLs are attacker-controlled. Here they are put on
one line (no forged lines in a text part, no extra headers in a subject), stripped of characters
that change how text reads without being visible (bidirectional overrides, zero-width
characters), clipped, and, for a look-alike's report, defanged so that no part of it can be
clicked. The digest and the confirmation replies both show such text; HTML escaping is left to
the template engine's autoescaping.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest shown value of a name, subject, sender or reason; the rest is replaced by an ellipsis.
TEXT_LIMIT = 200


# Characters that change how text is displayed without being visible: bidirectional overrides
# (which can make "moc.evil" read as "live.com") and zero-width characters used to dodge filters.
_INVISIBLE = frozenset(
    "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029\t")
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(//|\\\\)")
_BARE_DOT = re.compile(r"(?<!\[)\.(?!\])")
# A URL, or a host name such as "login-check.example", inside free text.
_LINKISH = re.compile(
    r"(?i)\b[a-z][a-z0-9+.\-]*:(?://|\\\\)\S+"
    r"|\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z][a-z0-9\-]*[a-z0-9]\b\S*"
)


def header_safe(value: str) -> str:
    """Put ``value`` on one line: line breaks and tabs become spaces, control and invisible
    characters go, runs of whitespace collapse. Used for the subject (no header injection) and for
    every email-supplied string shown in the digest (no forged lines, no bidi tricks)."""
    kept: list[str] = []
    for char in value:
        if char in _LINE_BREAKS:
            kept.append(" ")
        elif char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cs"):
            continue
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def defang(url: str) -> str:
    """Make a URL readable but never clickable: ``https://evil.example/x`` becomes
    ``hxxps://evil[.]example/x``. Every scheme and every dot is neutralised, including those of
    URLs hidden in the query string, because mail clients turn anything URL-like into a link.
    Applying it twice changes nothing more."""
    text = header_safe(url)

    def _scheme(match: re.Match[str]) -> str:
        scheme = match.group(1)
        if scheme.lower() in ("hxxp", "hxxps"):
            return f"{scheme}://"
        if scheme.lower() in ("http", "https"):
            xx = "".join("X" if char.isupper() else "x" for char in scheme[1:3])
            return f"{scheme[0]}{xx}{scheme[3:]}://"
        return f"{scheme}[:]//"

    text = _SCHEME.sub(_scheme, text)
    return _BARE_DOT.sub("[.]", text)


def defang_text(text: str) -> str:
    """Defang every URL and host name inside free text (a rejection reason, a subject), so that
    no part of a look-alike's report can be clicked in a mail client that links bare domains."""
    return _LINKISH.sub(lambda match: defang(match.group(0)), header_safe(text))


def clip(value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """One line, at most ``limit`` characters; ``None`` and blank stay ``None``."""
    if value is None:
        return None
    text = header_safe(value)
    if not text:
        return None
    if len(text) > limit:
        return text[: limit - 1].rstrip() + "…"
    return text
