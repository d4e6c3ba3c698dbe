"""The markers and where they are looked for: texts, header blocks and decoded body parts.

Why a message without any of them is safe to skip is the argument in the package docstring
(:mod:`acchub_mailbot.core.prefilter`).
"""

from __future__ import annotations

import binascii
import codecs
import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message as StdMessage
from functools import lru_cache
from urllib.parse import unquote

from acchub_mailbot.core.gateways.generic import BASE64_HTTP, decode_value
from acchub_mailbot.core.htmltext import HIDDEN_TAGS, html_to_text
from acchub_mailbot.core.links import MAX_UNWRAP_DEPTH
from acchub_mailbot.core.linkshape import _CONFUSABLES, IMITATED, is_microsoft_host
from acchub_mailbot.core.messages import MESSAGE_TYPES, decode_bytes
from acchub_mailbot.core.urlrules import TEST_HOST_MARKERS

#: Letters Python's case-insensitive regular expressions treat as ASCII ones (``re.I``).
_IGNORECASE_EXTRAS: dict[int, str | int | None] = {
    ord("ı"): "i",
    ord("İ"): "i",
    ord("ſ"): "s",
    ord("K"): "k",
}
_FOLD: dict[int, str | int | None] = {**_CONFUSABLES, **_IGNORECASE_EXTRAS}
_NOT_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())
_NOT_ALNUM_OR_SLASH = _NOT_ALNUM.replace(b"/", b"")


def squash(text: str) -> str:
    """Only ASCII letters and digits of ``text``, lower-cased, after NFKC, homoglyph mapping
    and accent stripping -- the form every marker is compared in."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
        text = unicodedata.normalize("NFKD", text).translate(_FOLD)
        text = text.encode("ascii", "ignore").decode("ascii")
    return text.lower().encode("ascii").translate(None, _NOT_ALNUM).decode("ascii")


def _unsquashed(text: str) -> str:
    """Like :func:`squash` but keeping punctuation, for ``//`` hosts and ``xn--``."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
        text = unicodedata.normalize("NFKD", text).translate(_FOLD)
        text = text.encode("ascii", "ignore").decode("ascii")
    # URL parsing drops tabs and line breaks anywhere in a URL.
    return text.lower().replace("\t", "").replace("\r", "").replace("\n", "")


#: Markers anywhere in a body (squashed).
BODY_MARKERS = ("redirectedfromsignup", "clientlink", "invitesmicrosoftcom")
#: The thirds of ``businesscentral``: a label within two edits keeps one of them intact.
_CLOSE_CHUNKS = ("busin", "essce", "ntral")
#: Markers inside a host (squashed text after ``//``).
HOST_MARKERS = tuple(
    dict.fromkeys(
        (
            "dynamics",
            "businesscentral",
            *(squash(name) for name in IMITATED if "dynamics" not in name),
            "accountants",
            *(squash(m) for m in TEST_HOST_MARKERS if "dynamics" not in m),
            "mimecast",
            "urldefense",
            "microsoftonline",
            "invitationsmicrosoft",
            *_CLOSE_CHUNKS,
        )
    )
)
#: Markers in a Subject (squashed): the product names of phrases.PRODUCT.
SUBJECT_MARKERS = ("dynamics", "businesscentral", "financials")
#: Markers in a From header (squashed).
SENDER_MARKERS = ("invites",)

#: What still matters in a host under Microsoft's own domains: classify() calls every other link
#: there unrelated, but checks hub-shaped and legacy Financials hosts first.
MICROSOFT_HOST_MARKERS = ("accountants", "financialsdynamics")
_HOST = re.compile(r"//([^/?#]*)")
_PLAIN_HOST = re.compile(r"[a-z0-9.-]+")


def _hosts_match(text: str) -> bool:
    unsquashed = _unsquashed(text)
    if "//" not in unsquashed:
        return False
    hosts = _HOST.findall(unsquashed)
    # Every host's flat form at once, kept apart by "/" (which no host holds and no marker
    # spans): the common case, no marker in any host, costs one scan per marker.
    joined = "/".join(hosts)
    if "xn--" in joined:
        return True
    flat = joined.encode("ascii", "ignore").translate(None, _NOT_ALNUM_OR_SLASH).decode("ascii")
    if not any(m in flat for m in HOST_MARKERS):
        return False
    plain_text = text.isascii()
    for host in dict.fromkeys(hosts):
        flat = host.encode("ascii", "ignore").translate(None, _NOT_ALNUM).decode("ascii")
        if not any(m in flat for m in HOST_MARKERS):
            continue
        # Only when the text is plain ASCII is the candidate exactly the host the detector sees
        # (no homoglyph folded into it, no user-info or port): then a Microsoft domain such as
        # dynamics.microsoft.com is unrelated to the detector unless hub- or legacy-shaped
        # (each of MICROSOFT_HOST_MARKERS contains one of HOST_MARKERS).
        if plain_text and _PLAIN_HOST.fullmatch(host) and is_microsoft_host(host.rstrip(".")):
            if any(m in flat for m in MICROSOFT_HOST_MARKERS):
                return True
            continue
        return True
    return False


def _view_hits(text: str) -> bool:
    squashed = squash(text)
    if any(m in squashed for m in BODY_MARKERS):
        return True
    return _hosts_match(text)


# -- HTML as the detector's html_to_text sees it -------------------------------------------------

_COMMENT = re.compile(r"<!--(.*?)--\s*>", re.S)
_HIDDEN_NAMES = "|".join(sorted(HIDDEN_TAGS))
_HIDDEN_BLOCK = re.compile(rf"<({_HIDDEN_NAMES})(?=[\s/>])[^<>]*>(.*?)</\1\s*>", re.S | re.I)
_HIDDEN_TAG = re.compile(rf"</?\s*(?:{_HIDDEN_NAMES})(?=[\s/>])", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<![^<>]*>|<\?[^<>]*>")


def _fast_visible(markup: str) -> str | None:
    """The visible text of ``markup`` by regular expressions, or ``None`` when the markup has
    anything (a ``<`` or ``>`` inside a comment or attribute, an unclosed or nested hidden
    element) where that could differ from :func:`html_to_text`."""
    if "<!--" in markup:
        for comment in _COMMENT.finditer(markup):
            if "<" in comment.group(1) or ">" in comment.group(1):
                return None
        markup = _COMMENT.sub("", markup)
    if _HIDDEN_TAG.search(markup):
        for block in _HIDDEN_BLOCK.finditer(markup):
            start = block.start()
            if markup.rfind("<", 0, start) > markup.rfind(">", 0, start):
                return None  # the block starts inside another tag
            if block.group(0)[: block.start(2) - block.start()].rstrip(">").endswith("/"):
                return None  # <style/> opens and closes at once for HTMLParser
            # HTMLParser counts hidden elements: nested ones keep the block hidden only when
            # they open and close in order inside it.
            depth = 0
            for tag in _HIDDEN_TAG.finditer(block.group(2)):
                depth += -1 if tag.group(0).startswith("</") else 1
                if depth < 0:
                    return None
            if depth:
                return None
        markup = _HIDDEN_BLOCK.sub("", markup)
        if _HIDDEN_TAG.search(markup):
            return None
    text = _TAG.sub("", markup)
    if "<" in text or ">" in text:
        return None
    return text


def _body_views(text: str) -> Iterator[str]:
    """The texts the detector may read links and words from, before percent-decoding."""
    yield text
    if "&" in text:
        yield html.unescape(text)
    if "<" in text:
        visible = _fast_visible(text)
        if visible is None:
            visible = html_to_text(text)
        yield visible
        if "&" in visible:
            yield html.unescape(visible)


_BASE64_RUN = re.compile(BASE64_HTTP + r"[A-Za-z0-9+/_=-]*")
#: ``:`` then ``//`` under Proofpoint-style substitution, any case, found without lowering
#: the whole text (this runs on every view of nearly every message).
_SUBSTITUTION_MARK = re.compile(r"-3[aA]__")


def _wrapped_views(text: str) -> Iterator[str]:
    """What the generic gateway (``core/gateways/generic.py``) could take out of ``text`` besides
    percent-decoding: base64 runs that decode to a URL, and Proofpoint-style substitution."""
    if BASE64_HTTP in text:
        for run in _BASE64_RUN.findall(text):
            for candidate in dict.fromkeys((run, run.rstrip("="))):
                found = decode_value(candidate)
                if found is not None:
                    yield found[0]
    if _SUBSTITUTION_MARK.search(text):
        yield unquote(text.replace("-", "%").replace("_", "/"))


def text_could_be_invitation(text: str) -> bool:
    """True when a decoded body (plain text or HTML) holds anything the detector acts on."""
    seen: set[str] = set()
    pending = list(_body_views(text))
    while pending:
        current = pending.pop()
        for _ in range(MAX_UNWRAP_DEPTH + 1):
            if len(seen) > 64 * (MAX_UNWRAP_DEPTH + 1):
                return True  # too many encodings to follow cheaply: let the parser decide
            if current in seen:
                break
            seen.add(current)
            if _view_hits(current):
                return True
            pending.extend(_wrapped_views(current))
            if "%" not in current:
                break
            decoded = unquote(current)
            if decoded == current:
                break
            current = decoded
    return False


# -- headers -------------------------------------------------------------------------------------

_FIELD = re.compile(rb"^(subject|from)[ \t]*:(.*)$", re.I | re.M)
_FOLDING = re.compile(rb"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?]*)\?([bBqQ])\?(.*?)\?=", re.S)
_CHARSET_PARAM = re.compile(rb"""charset[*0-9]{0,4}\s*=\s*["']?([^"';\s]+)""", re.I)
_CTE_FIELD = re.compile(rb"^content-transfer-encoding[ \t]*:[ \t]*([^\r\n;]*)", re.I | re.M)


def _decode_word(match: re.Match[str], fallback: str) -> str:
    charset, kind, payload = match.group(1), match.group(2).lower(), match.group(3)
    raw = payload.encode("latin-1", "replace")
    try:
        if kind == "b":
            data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        else:
            data = binascii.a2b_qp(raw.replace(b"_", b" "))
    except (binascii.Error, ValueError):
        return match.group(0)
    name = charset.split("*")[0] or fallback
    return decode_bytes(data, name if fallback == "declared" else fallback)


def _header_texts(value: bytes) -> Iterator[str]:
    """A header value as each plausible decoder would read it."""
    # Plain ASCII reads the same in both charsets.
    for charset in ("ascii",) if value.isascii() else ("utf-8", "latin-1"):
        text = value.decode(charset, "replace")
        yield text
        if "=?" in text:
            for fallback in ("declared", "utf-8", "latin-1"):
                yield _ENCODED_WORD.sub(functools.partial(_decode_word, fallback=fallback), text)


def header_could_be_invitation(block: bytes) -> bool:
    """True when the Subject or From of one header block holds a marker."""
    unfolded = _FOLDING.sub(b"", block)
    for match in _FIELD.finditer(unfolded):
        name = match.group(1).lower()
        markers = SUBJECT_MARKERS if name == b"subject" else SENDER_MARKERS
        for text in _header_texts(match.group(2)):
            squashed = squash(text)
            if any(m in squashed for m in markers):
                return True
    return False


# -- bodies: transfer encodings and charsets -----------------------------------------------------


@lru_cache(maxsize=256)
def keeps_ascii(charset: str | None) -> bool:
    """True when ``decode_bytes`` with this charset decodes printable ASCII as itself."""
    if charset is None:
        return True
    name = charset.strip().strip('"').lower()
    try:
        codecs.lookup(name)
    except LookupError:
        return True  # decode_bytes falls back to utf-8 / windows-1252 / latin-1
    sample = bytes(range(9, 127))
    try:
        return sample.decode(name) == sample.decode("ascii")
    except (UnicodeError, ValueError):
        return False


def _transfer_decoded(payload: bytes, encoding: str) -> bytes | None:
    """The payload decoded exactly as ``Message.get_payload(decode=True)`` decodes it for this
    Content-Transfer-Encoding (the detector's own path); ``None`` for uuencode."""
    name = encoding.strip().lower()
    if name in ("", "7bit", "8bit", "binary"):
        return payload
    if name in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return None  # rare enough to always parse
    if encoding == "quoted-printable":
        # What get_payload(decode=True) calls for exactly this header value (quopri, in C).
        return binascii.a2b_qp(payload)
    carrier = StdMessage()
    carrier["Content-Transfer-Encoding"] = encoding
    carrier.set_payload(payload.decode("ascii", "surrogateescape"))
    decoded = carrier.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else payload


@dataclass(frozen=True)
class BodyPart:
    """One fetched leaf: its transfer-encoded bytes, its MIME header, and what the server's
    BODYSTRUCTURE said about encoding and charset."""

    payload: bytes
    mime_header: bytes = b""
    encoding: str = ""
    charset: str | None = None
    content_type: str = "text/plain"


def _payload_texts(part: BodyPart) -> Iterator[str] | None:
    encodings = {
        part.encoding,
        *(m.decode("latin-1") for m in _CTE_FIELD.findall(part.mime_header)),
    }
    charsets: set[str | None] = {part.charset, None}
    charsets.update(m.decode("latin-1") for m in _CHARSET_PARAM.findall(part.mime_header))
    if not all(keeps_ascii(c) for c in charsets):
        return None
    # Only the decodings the parser could apply: the raw bytes are read as text only when an
    # encoding is the identity (7bit, 8bit, binary, none or unknown), as get_payload does.
    payloads: dict[bytes, None] = {}
    for encoding in encodings:
        decoded = _transfer_decoded(part.payload, encoding)
        if decoded is None:
            return None
        payloads[decoded] = None

    def texts() -> Iterator[str]:
        produced: set[str] = set()
        for payload in payloads:
            for charset in charsets:
                text = decode_bytes(payload, charset)
                if text not in produced:
                    produced.add(text)
                    yield text

    return texts()


def could_be_invitation(headers: Iterable[bytes], parts: Sequence[BodyPart]) -> bool:
    """False only when no message level can be reported (see the module docstring).

    ``headers`` are the header blocks of the message and of every attached message; ``parts``
    every fetched leaf (attachment bodies need not be given: the detector never reads them).
    """
    for block in headers:
        if header_could_be_invitation(block):
            return True
    for part in parts:
        if part.content_type.lower() in MESSAGE_TYPES or b".eml" in part.mime_header.lower():
            # A message kept as a leaf (message/global, a saved .eml file): rare; parse it.
            return True
        texts = _payload_texts(part)
        if texts is None:
            return True
        for text in texts:
            if text_could_be_invitation(text):
                return True
    return False


__all__ = [
    "BODY_MARKERS",
    "HOST_MARKERS",
    "SUBJECT_MARKERS",
    "BodyPart",
    "could_be_invitation",
    "header_could_be_invitation",
    "keeps_ascii",
    "squash",
    "text_could_be_invitation",
]
