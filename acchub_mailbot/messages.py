"""Raw RFC 5322 bytes -> one normalized, immutable :class:`Message` used by everything else.

mail-parser does the header decoding and body extraction; this module adds what detection needs on
top: the attached ``message/rfc822`` parts as messages of their own, the top-level content type,
and a small set of headers that drive negative signals (replies, bounces, auto-replies).
"""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as StdMessage

import mailparser

#: Headers kept on :class:`Message` (lower-cased names). Everything else is dropped.
KEPT_HEADERS = (
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "authentication-results",
    "return-path",
    "reply-to",
    "x-ms-exchange-organization-autoforwarded",
    "x-forwarded-for",
    "x-forwarded-to",
)


@dataclass(frozen=True)
class Message:
    """A parsed email. ``text`` and ``html`` join every inline body part of that kind (not those
    of attached messages, which are in ``attached``)."""

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


def _addresses(value: object) -> list[tuple[str, str]]:
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, (tuple, list)) and len(item) == 2:
                out.append((str(item[0] or ""), str(item[1] or "")))
        return out
    return []


def _clean_message_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value or None


def _from_std(std: StdMessage, raw_size: int, depth: int, max_depth: int) -> Message:
    parsed = mailparser.MailParser(std)
    senders = _addresses(parsed.from_)
    sender_name, sender = senders[0] if senders else ("", "")
    recipients = tuple(addr for _name, addr in _addresses(parsed.to))
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        values = std.get_all(name)
        if values:
            headers[name] = "\n".join(str(v) for v in values)
    attached: list[Message] = []
    if depth < max_depth:
        for part in std.walk():
            if part.get_content_type() == "message/rfc822":
                payload = part.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else None
                if isinstance(inner, StdMessage):
                    attached.append(_from_std(inner, 0, depth + 1, max_depth))
    date = parsed.date if isinstance(parsed.date, datetime) else None
    return Message(
        message_id=_clean_message_id(std.get("Message-ID")),
        subject=str(parsed.subject or ""),
        sender=sender.lower(),
        sender_name=sender_name,
        to=recipients,
        date=date,
        content_type=std.get_content_type(),
        text="\n".join(parsed.text_plain),
        html="\n".join(parsed.text_html),
        headers=headers,
        attached=tuple(attached),
        defects=tuple(str(d) for d in std.defects),
        size=raw_size,
    )


def parse_message(raw: bytes, *, max_depth: int = 5) -> Message:
    """Parse raw bytes. Never raises on malformed mail: defects are recorded instead."""
    std = email.message_from_bytes(raw)
    return _from_std(std, len(raw), 0, max_depth)


__all__ = ["Message", "parse_message"]
