"""Raw RFC 5322 bytes -> one normalized, immutable :class:`Message` used by everything else.

mail-parser decodes the headers (subject, addresses, date); the body parts are collected here by a
walk of our own, because mail-parser's ``text_plain`` also descends into attached
``message/rfc822`` parts, and a forward-as-attachment must keep its bodies apart from the outer
message (they become ``Message.attached``). Charsets are decoded leniently: mail from the wild
declares wrong or no charsets, and parsing must never raise on malformed input.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message as StdMessage
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

log = logging.getLogger(__name__)

#: Headers kept on :class:`Message` (lower-cased names). Everything else is dropped.
KEPT_HEADERS = (
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "authentication-results",
    "return-path",
    "reply-to",
    "x-ms-exchange-organization-autoforwarded",
    "x-forwarded-for",
    "x-forwarded-to",
    "resent-from",
)

#: Charsets tried, in order, when a part declares none or a wrong one. windows-1252 decodes every
#: byte except five, so it is the practical last resort before latin-1 (which decodes all).
FALLBACK_CHARSETS = ("utf-8", "windows-1252", "latin-1")

#: Content types whose subtree is a message of its own (never mixed into the outer bodies).
MESSAGE_TYPES = ("message/rfc822", "message/global")


@dataclass(frozen=True)
class Message:
    """A parsed email. ``text`` and ``html`` join every inline body part of that kind (not those
    of attached messages, which are in ``attached``). ``part_types`` lists the content types of
    every MIME part of this message (attached messages excluded), in walk order."""

    message_id: str | None
    subject: str
    sender: str
    sender_name: str
    to: tuple[str, ...]
    date: datetime | None
    content_type: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    attached: tuple[Message, ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    part_types: tuple[str, ...] = ()


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


def _decode_header_value(value: object) -> str:
    """RFC 2047 decoding that tolerates broken encoded words and raw 8-bit bytes."""
    if value is None:
        return ""
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return text


def _part_text(part: StdMessage) -> str:
    """The decoded text of one leaf part; never raises."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken part must not lose the rest of the message
        payload = None
    if isinstance(payload, bytes):
        try:
            charset = part.get_content_charset()
        except Exception:  # malformed parameters
            charset = None
        return decode_bytes(payload, charset)
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _attachment_name(part: StdMessage) -> str:
    try:
        return (part.get_filename() or "").lower()
    except Exception:  # malformed parameters
        return ""


@dataclass
class _Walk:
    """Mutable accumulator used only while walking one message's own MIME tree."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    inner: list[StdMessage] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


def _walk(part: StdMessage, acc: _Walk, level: int) -> None:
    """Collect inline bodies, stopping at (and remembering) attached messages."""
    ctype = part.get_content_type()
    acc.types.append(ctype)
    if level > 50:
        return
    if ctype in MESSAGE_TYPES:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, StdMessage):
            acc.inner.append(inner)
        elif isinstance(payload, str) and payload.strip():
            acc.inner.append(email.message_from_bytes(_part_bytes(part)))
        return
    if part.is_multipart():
        children = part.get_payload()
        if isinstance(children, list):
            for child in children:
                if isinstance(child, StdMessage):
                    _walk(child, acc, level + 1)
        return
    disposition = (part.get_content_disposition() or "").lower()
    name = _attachment_name(part)
    if name.endswith(".eml") and ctype in ("application/octet-stream", "text/plain"):
        # Some clients attach a saved message as a generic file; it is still the original.
        acc.inner.append(email.message_from_bytes(_part_bytes(part)))
        return
    if disposition == "attachment":
        return
    if ctype == "text/plain":
        acc.texts.append(_part_text(part))
    elif ctype == "text/html":
        acc.htmls.append(_part_text(part))


def _part_bytes(part: StdMessage) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # malformed transfer encoding
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


_Headers = tuple[str, list[tuple[str, str]], list[str], object]


def _headers_via_mailparser(std: StdMessage) -> _Headers:
    """Subject, From pairs, To addresses and date from mail-parser (it knows many broken forms)."""
    parsed = mailparser.MailParser(std)
    senders = _addresses(parsed.from_)
    recipients = [addr for _name, addr in _addresses(parsed.to)]
    return str(parsed.subject or ""), senders, recipients, parsed.date


def _headers_via_stdlib(std: StdMessage) -> _Headers:
    """The same with the standard library only: the fallback when mail-parser gives up."""
    subject = _decode_header_value(std.get("Subject"))
    from_values = [str(v) for v in std.get_all("From", [])]
    senders = [(_decode_header_value(n), a) for n, a in getaddresses(from_values)]
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


def _clean_message_id(value: object) -> str | None:
    if not value:
        return None
    text = str(value).strip()
    return text or None


def _from_std(std: StdMessage, raw_size: int, depth: int, max_depth: int) -> Message:
    defects = [str(d) for d in std.defects]
    try:
        subject, senders, recipients, date = _headers_via_mailparser(std)
    except Exception as exc:  # mail-parser has many failure modes on hostile input
        log.debug("mail-parser failed, using the stdlib headers: %s", exc)
        defects.append(f"mail-parser: {type(exc).__name__}")
        subject, senders, recipients, date = _headers_via_stdlib(std)
    sender_name, sender = senders[0] if senders else ("", "")
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        values = std.get_all(name)
        if values:
            headers[name] = "\n".join(_decode_header_value(v) for v in values)
    acc = _Walk()
    _walk(std, acc, 0)
    attached: list[Message] = []
    if depth < max_depth:
        attached = [_from_std(inner, 0, depth + 1, max_depth) for inner in acc.inner]
    return Message(
        message_id=_clean_message_id(std.get("Message-ID")),
        subject=subject.strip(),
        sender=sender.strip().lower(),
        sender_name=sender_name,
        to=tuple(recipients),
        date=date if isinstance(date, datetime) else None,
        content_type=std.get_content_type(),
        text="\n".join(acc.texts),
        html="\n".join(acc.htmls),
        headers=headers,
        attached=tuple(attached),
        defects=tuple(defects),
        size=raw_size,
        part_types=tuple(acc.types),
    )


def _empty(raw_size: int, problem: str) -> Message:
    return Message(
        message_id=None,
        subject="",
        sender="",
        sender_name="",
        to=(),
        date=None,
        content_type="text/plain",
        text="",
        html="",
        defects=(problem,),
        size=raw_size,
    )


def parse_message(raw: bytes, *, max_depth: int = 5) -> Message:
    """Parse raw bytes. Never raises on malformed mail: defects are recorded instead."""
    try:
        std = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _from_std(std, len(raw), 0, max_depth)
    except RecursionError:
        return _empty(len(raw), "message nested too deeply to parse")
    except Exception as exc:  # the contract is "never raises"
        return _empty(len(raw), f"unparseable message: {type(exc).__name__}: {exc}")


__all__ = ["KEPT_HEADERS", "Message", "decode_bytes", "parse_message"]
