"""Raw RFC 5322 bytes -> one normalized, immutable :class:`Message` used by everything else.

mail-parser decodes the headers (subject, addresses, date); the body parts are collected here by a
walk of our own, because mail-parser's ``text_plain`` also descends into attached
``message/rfc822`` parts, and a forward-as-attachment must keep its bodies apart from the outer
message (they become ``Message.attached``). Charsets are decoded leniently: mail from the wild
declares wrong or no charsets, and parsing must never raise on malformed input.

Parsing is bounded (:mod:`acchub_mailbot.core.limits`): a message over ``max_message_bytes``, or
with more structure than the limits allow, is first cut down at the byte level by :func:`skeleton`
(attachment bodies dropped, parts beyond ``max_parts`` or ``max_mime_depth`` left out) so that
the standard library parser never holds a huge or pathological tree. The walk itself stops at the
part, depth and time limits and truncates text and HTML; the first limit hit is named in
``Message.limit_hit``.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message as StdMessage

from acchub_mailbot.core.budget import ParseBudget
from acchub_mailbot.core.headers import (
    FALLBACK_CHARSETS,
    clean_message_id,
    decode_bytes,
    decode_header_value,
    header_copy,
    header_summary,
    headers_via_mailparser,
    headers_via_stdlib,
)
from acchub_mailbot.core.limits import LimitExceeded, Limits
from acchub_mailbot.core.skeleton import MESSAGE_TYPES, attachment_name, needs_skeleton, skeleton

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.messages")

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
    "x-ms-exchange-message-is-ndr",
    "x-failed-recipients",
    "authentication-results",
    "return-path",
    "reply-to",
    "x-ms-exchange-organization-autoforwarded",
    "x-forwarded-for",
    "x-forwarded-to",
    "resent-from",
    "x-acchub-mailbox",
    "x-acchub-confirmation",
)
#: Kept exactly as received, not RFC 2047-decoded: a decoded encoded-word could smuggle a line
#: break into the value and forge a second header past the receiving server's stripping.
RAW_HEADERS = ("authentication-results",)

#: The limits used when the caller names none.
DEFAULT_LIMITS = Limits()


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
    #: The first limit this message (or a message attached to it) ran into, by its name in
    #: :class:`~acchub_mailbot.core.limits.Limits`; ``defects`` holds the details.
    limit_hit: str | None = None

    @property
    def limit_exceeded(self) -> LimitExceeded | None:
        """``limit_hit`` as an outcome value, with the detail recorded for it."""
        if self.limit_hit is None:
            return None
        prefix = f"limit {self.limit_hit}: "
        detail = next((d[len(prefix) :] for d in self.defects if d.startswith(prefix)), "")
        return LimitExceeded(self.limit_hit, detail)


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


@dataclass
class _Walk:
    """Mutable accumulator used only while walking one message's own MIME tree."""

    budget: ParseBudget
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    inner: list[StdMessage] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    text_chars: int = 0
    html_chars: int = 0

    def add_text(self, text: str) -> None:
        room = self.budget.limits.max_text_bytes - self.text_chars
        if len(text) > room:
            text = text[: max(room, 0)]
            self.budget.exceed(
                "max_text_bytes",
                f"plain text cut at {self.budget.limits.max_text_bytes} characters",
            )
        self.text_chars += len(text)
        self.texts.append(text)

    def add_html(self, html: str) -> None:
        room = self.budget.limits.max_html_bytes - self.html_chars
        if len(html) > room:
            html = html[: max(room, 0)]
            self.budget.exceed(
                "max_html_bytes", f"HTML cut at {self.budget.limits.max_html_bytes} characters"
            )
        self.html_chars += len(html)
        self.htmls.append(html)


def _walk(part: StdMessage, acc: _Walk, level: int) -> None:
    """Collect inline bodies, stopping at (and remembering) attached messages."""
    if not acc.budget.take_part():
        return
    ctype = part.get_content_type()
    acc.types.append(ctype)
    if level > acc.budget.limits.max_mime_depth:
        acc.budget.exceed(
            "max_mime_depth", f"MIME parts nested deeper than {acc.budget.limits.max_mime_depth}"
        )
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
                if acc.budget.stopped:
                    break
                if isinstance(child, StdMessage):
                    _walk(child, acc, level + 1)
        return
    disposition = (part.get_content_disposition() or "").lower()
    name = attachment_name(part)
    if name.endswith(".eml") and ctype in ("application/octet-stream", "text/plain"):
        # Some clients attach a saved message as a generic file; it is still the original.
        acc.inner.append(email.message_from_bytes(_part_bytes(part)))
        return
    if disposition == "attachment":
        return
    if ctype == "text/plain":
        acc.add_text(_part_text(part))
    elif ctype == "text/html":
        acc.add_html(_part_text(part))


def _part_bytes(part: StdMessage) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # malformed transfer encoding
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _from_std(std: StdMessage, raw_size: int, depth: int, budget: ParseBudget) -> Message:
    defects = [str(d) for d in std.defects[:20]]
    try:
        subject, senders, recipients, date = headers_via_mailparser(header_copy(std))
    except Exception as exc:  # mail-parser has many failure modes on hostile input
        log.debug("mail-parser failed, using the stdlib headers: %s", exc)
        defects.append(f"mail-parser: {type(exc).__name__}")
        subject, senders, recipients, date = headers_via_stdlib(std)
    sender_name, sender = senders[0] if senders else ("", "")
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        values = std.get_all(name)
        if values:
            decode = str if name in RAW_HEADERS else decode_header_value
            headers[name] = "\n".join(decode(v) for v in values)
    acc = _Walk(budget)
    _walk(std, acc, 0)
    attached: list[Message] = []
    if depth < budget.limits.max_rfc822_depth:
        for inner in acc.inner:
            if budget.stopped:
                break
            attached.append(_from_std(inner, 0, depth + 1, budget))
    elif acc.inner:
        budget.exceed(
            "max_rfc822_depth",
            f"attached messages nested deeper than {budget.limits.max_rfc822_depth}",
        )
    if depth == 0:
        # The whole tree's limits and notes are reported once, on the outermost message.
        defects.extend(budget.notes)
    return Message(
        message_id=clean_message_id(std.get("Message-ID")),
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
        limit_hit=budget.hit,
    )


def _empty(raw_size: int, problem: str, limit_hit: str | None = None) -> Message:
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
        limit_hit=limit_hit,
    )


def parse_message(
    raw: bytes, *, limits: Limits | None = None, max_depth: int | None = None
) -> Message:
    """Parse raw bytes within ``limits``. Never raises on malformed mail: defects are recorded
    instead, and the first limit hit is named in ``Message.limit_hit``.

    ``max_depth`` (attached-message nesting) is the older spelling of
    ``limits.max_rfc822_depth`` and overrides it when given.
    """
    limits = limits or DEFAULT_LIMITS
    if max_depth is not None:
        limits = replace(limits, max_rfc822_depth=max_depth)
    budget = ParseBudget(limits, limits.deadline())
    try:
        if needs_skeleton(raw, limits):
            raw_for_parse = skeleton(raw, limits, budget)
            # The byte-level pass kept at most max_parts parts; the walk counts them afresh.
            budget.restart_count()
        else:
            raw_for_parse = raw
        std = email.message_from_bytes(raw_for_parse, policy=email.policy.compat32)
        del raw_for_parse
        return _from_std(std, len(raw), 0, budget)
    except RecursionError:
        return _empty(len(raw), "message nested too deeply to parse", "max_mime_depth")
    except Exception as exc:  # the contract is "never raises"
        return _empty(len(raw), f"unparseable message: {type(exc).__name__}: {str(exc)[:200]}")


__all__ = [
    "FALLBACK_CHARSETS",
    "KEPT_HEADERS",
    "MESSAGE_TYPES",
    "Message",
    "decode_bytes",
    "header_summary",
    "parse_message",
    "skeleton",
]
