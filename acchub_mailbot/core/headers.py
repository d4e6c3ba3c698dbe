"""Header and charset decoding that never raises, for mail from the wild.

Mailers declare wrong charsets, break RFC 2047 encoded words and write raw 8-bit bytes; every
function here falls back instead of failing. mail-parser reads the address and date headers (it
knows many broken forms); the standard library is the fallback when it gives up.
"""

from __future__ import annotations

import email.errors
import re
from email.header import Header, decode_header, make_header
from email.message import Message as StdMessage
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

#: Charsets tried, in order, when a part declares none or a wrong one. windows-1252 decodes every
#: byte except five, so it is the practical last resort before latin-1 (which decodes all).
FALLBACK_CHARSETS = ("utf-8", "windows-1252", "latin-1")


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode body bytes with the declared charset, falling back instead of raising."""
    candidates: list[str] = []
    if charset:
        name = charset.strip().strip('"').lower()
        # Mailers often say iso-8859-1 while writing windows-1252 (curly quotes, euro sign).
        candidates.append("windows-1252" if name in ("iso-8859-1", "latin1", "latin-1") else name)
    candidates.extend(FALLBACK_CHARSETS)
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeError):
            continue
    return payload.decode("utf-8", "replace")  # pragma: no cover - latin-1 never fails


def decode_header_value(value: object) -> str:
    """RFC 2047 decoding that tolerates broken encoded words and raw 8-bit bytes."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return text


_SUMMARY_FIELD = re.compile(rb"^(message-id|subject|from)[ \t]*:[ \t]*(.*?)[ \t\r]*$", re.I | re.M)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")


def header_summary(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """Message-ID, subject and sender of a message's header block, each ``None`` when absent.

    What a person needs to find a message that was not parsed (prefiltered mail, or mail whose
    processing failed; the Message-ID also finds a quarantined message again). Read with a
    regular expression and RFC 2047 decoding rather than the email package's header registry,
    which costs more than everything else the prefilter does; never raises.
    """
    end = _HEADER_END.search(raw, 0, 65536)
    block = _UNFOLD.sub(b"", raw[: end.start() if end else 65536])
    found: dict[bytes, bytes] = {}
    for match in _SUMMARY_FIELD.finditer(block):
        found.setdefault(match.group(1).lower(), match.group(2))

    def text(name: bytes, limit: int, decode: bool) -> str | None:
        value = found.get(name)
        if value is None:
            return None
        try:
            plain = value.decode("utf-8")
        except UnicodeDecodeError:
            plain = value.decode("windows-1252", "replace")
        decoded = decode_header_value(plain) if decode and "=?" in plain else plain
        decoded = " ".join(decoded.split())
        return decoded[:limit] or None

    return (
        text(b"message-id", 998, False),
        text(b"subject", 2000, True),
        text(b"from", 320, True),
    )


Headers = tuple[str, list[tuple[str, str]], list[str], object]


def header_copy(std: StdMessage) -> StdMessage:
    """The headers alone: mail-parser decodes every part it is given, attachments included, and
    only the headers are wanted from it."""
    copy = StdMessage()
    for name, value in std.items()[:500]:
        copy[name] = value
    copy.set_payload("")
    return copy


def headers_via_mailparser(std: StdMessage) -> Headers:
    """Subject, From pairs, To addresses and date from mail-parser (it knows many broken forms)."""
    parsed = mailparser.MailParser(std)
    senders = _addresses(parsed.from_)
    recipients = [addr for _name, addr in _addresses(parsed.to)]
    return str(parsed.subject or ""), senders, recipients, parsed.date


def headers_via_stdlib(std: StdMessage) -> Headers:
    """The same with the standard library only: the fallback when mail-parser gives up."""
    subject = decode_header_value(std.get("Subject"))
    from_values = [str(v) for v in std.get_all("From", [])]
    senders = [(decode_header_value(n), a) for n, a in getaddresses(from_values)]
    recipients = [a for _n, a in getaddresses([str(v) for v in std.get_all("To", [])]) if a]
    date: object = None
    try:
        date = parsedate_to_datetime(str(std.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        date = None
    return subject, senders, recipients, date


def _addresses(value: object) -> list[tuple[str, str]]:
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, (tuple, list)) and len(item) == 2:
                out.append((str(item[0] or ""), str(item[1] or "")))
        return out
    return []


def clean_message_id(value: object) -> str | None:
    """The Message-ID on one line; raw 8-bit bytes (RFC 6532) read as UTF-8."""
    if not value:
        return None
    if isinstance(value, Header):
        # compat32 wraps a header holding raw 8-bit bytes in a Header of "unknown-8bit".
        text = "".join(
            chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            for chunk, _charset in decode_header(value)
        )
    else:
        text = str(value)
    text = " ".join(text.split())
    return text or None
