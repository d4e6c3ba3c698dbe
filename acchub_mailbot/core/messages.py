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
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.header import Header, decode_header, make_header
from email.message import Message as StdMessage
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime

import mailparser

from acchub_mailbot.core.limits import Deadline, LimitExceeded, Limits

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

#: Charsets tried, in order, when a part declares none or a wrong one. windows-1252 decodes every
#: byte except five, so it is the practical last resort before latin-1 (which decodes all).
FALLBACK_CHARSETS = ("utf-8", "windows-1252", "latin-1")

#: The limits used when the caller names none.
DEFAULT_LIMITS = Limits()

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
        decoded = _decode_header_value(plain) if decode and "=?" in plain else plain
        decoded = " ".join(decoded.split())
        return decoded[:limit] or None

    return (
        text(b"message-id", 998, False),
        text(b"subject", 2000, True),
        text(b"from", 320, True),
    )


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


class _Budget:
    """What one message may still cost, shared by the whole tree (attached messages included)."""

    def __init__(self, limits: Limits, deadline: Deadline) -> None:
        self.limits = limits
        self.deadline = deadline
        self.parts = 0
        self.hit: str | None = None
        self.notes: list[str] = []
        self.halted = False

    def exceed(self, name: str, detail: str) -> None:
        """Remember a limit; the first one hit is the one reported."""
        if self.hit is None:
            self.hit = name
        note = f"limit {name}: {detail}"
        if note not in self.notes:
            self.notes.append(note)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def stopped(self) -> bool:
        """True once no further part may be read (part count or time used up)."""
        return self.halted

    def restart_count(self) -> None:
        """Count parts afresh (the walk after the byte-level pass); the deadline stays."""
        self.parts = 0
        self.halted = False

    def take_part(self) -> bool:
        """Count one more part; False when the part must not be read."""
        if self.stopped:
            return False
        self.parts += 1
        if self.parts > self.limits.max_parts:
            self.halted = True
            self.exceed(
                "max_parts", f"more than {self.limits.max_parts} MIME parts; the rest were not read"
            )
            return False
        if self.deadline.expired():
            self.halted = True
            self.exceed(
                "time_budget_seconds",
                f"parsing took more than {self.limits.time_budget_seconds:g} s; stopped early",
            )
            return False
        return True


@dataclass
class _Walk:
    """Mutable accumulator used only while walking one message's own MIME tree."""

    budget: _Budget
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
    name = _attachment_name(part)
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


_Headers = tuple[str, list[tuple[str, str]], list[str], object]


def _header_copy(std: StdMessage) -> StdMessage:
    """The headers alone: mail-parser decodes every part it is given, attachments included, and
    only the headers are wanted from it."""
    copy = StdMessage()
    for name, value in std.items()[:500]:
        copy[name] = value
    copy.set_payload("")
    return copy


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


def _from_std(std: StdMessage, raw_size: int, depth: int, budget: _Budget) -> Message:
    defects = [str(d) for d in std.defects[:20]]
    try:
        subject, senders, recipients, date = _headers_via_mailparser(_header_copy(std))
    except Exception as exc:  # mail-parser has many failure modes on hostile input
        log.debug("mail-parser failed, using the stdlib headers: %s", exc)
        defects.append(f"mail-parser: {type(exc).__name__}")
        subject, senders, recipients, date = _headers_via_stdlib(std)
    sender_name, sender = senders[0] if senders else ("", "")
    headers: dict[str, str] = {}
    for name in KEPT_HEADERS:
        values = std.get_all(name)
        if values:
            decode = str if name in RAW_HEADERS else _decode_header_value
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
    budget = _Budget(limits, limits.deadline())
    try:
        if _needs_skeleton(raw, limits):
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


# --- Byte-level skeleton of a message too big or too intricate to parse whole ---------------------

#: What counts as MIME structure when deciding whether a message needs the byte-level pass.
_STRUCTURE = re.compile(rb"(?i)boundary[ \t]*=|message/(?:rfc822|global)")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
#: Encoded text kept per part, as a multiple of the decoded limit (quoted-printable can triple).
_ENCODED_FACTOR = 3


def _needs_skeleton(raw: bytes, limits: Limits) -> bool:
    """True when parsing ``raw`` whole could cost more than the limits allow."""
    if len(raw) > limits.max_message_bytes:
        return True
    if raw.count(b"\n--") > 2 * limits.max_parts:
        return True
    threshold = min(limits.max_mime_depth, 4 * limits.max_rfc822_depth)
    return any(found >= threshold for found, _match in enumerate(_STRUCTURE.finditer(raw)))


def skeleton(raw: bytes, limits: Limits, budget: _Budget | None = None) -> bytes:
    """A bounded copy of ``raw`` with the same MIME structure and text parts.

    Bodies of non-text leaf parts are left out when ``raw`` is over ``max_message_bytes``; parts
    beyond ``max_parts`` and nesting beyond ``max_mime_depth``/``max_rfc822_depth`` are left out;
    text bodies are cut to a multiple of their limit. Preambles and epilogues are dropped. Works
    on byte offsets with ``find``, so it never copies more than it keeps.
    """
    budget = budget or _Budget(limits, limits.deadline())
    drop = len(raw) > limits.max_message_bytes
    out: list[bytes] = []
    skipped = _Skipped()
    _reduce(raw, 0, len(raw), 0, 0, budget, drop, out, skipped)
    if drop:
        budget.note(
            f"max_message_bytes: {len(raw)} bytes is over {limits.max_message_bytes}; "
            f"{skipped.parts} attachment bodies ({skipped.bytes} bytes) were not read"
        )
    return b"".join(out)


@dataclass
class _Skipped:
    parts: int = 0
    bytes: int = 0


def _head_end(data: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header block, start of the body) of the part ``data[start:end]``."""
    if data.startswith(b"\r\n", start, end):
        return start, start + 2
    if data.startswith(b"\n", start, end):
        return start, start + 1
    match = _BLANK_LINE.search(data, start, end)
    return (match.start(), match.end()) if match else (end, end)


def _find_delimiter(data: bytes, delimiter: bytes, start: int, end: int) -> int:
    """The offset of the next ``--boundary`` at the start of a line, or -1."""
    position = start
    while True:
        found = data.find(delimiter, position, end)
        if found < 0 or found == start or data[found - 1] == 0x0A:
            return found
        position = found + 1


def _reduce(
    data: bytes,
    start: int,
    end: int,
    depth: int,
    rfc822: int,
    budget: _Budget,
    drop: bool,
    out: list[bytes],
    skipped: _Skipped,
) -> None:
    """Append a bounded copy of the part ``data[start:end]`` to ``out``."""
    limits = budget.limits
    if not budget.take_part():
        return
    head_end, body_start = _head_end(data, start, end)
    head = data[start : min(head_end, start + limits.max_text_bytes)]
    out.append(head + b"\r\n\r\n" if head else b"\r\n")
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    ctype = headers.get_content_type()
    try:
        boundary = headers.get_boundary()
    except Exception:  # malformed parameters: treat the part as a leaf
        boundary = None
    if ctype.startswith("multipart/") and boundary:
        if depth >= limits.max_mime_depth:
            budget.exceed(
                "max_mime_depth", f"MIME parts nested deeper than {limits.max_mime_depth}"
            )
            return
        delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
        at = _find_delimiter(data, delimiter, body_start, end)
        while at >= 0 and not budget.stopped:
            if data.startswith(b"--", at + len(delimiter), end):
                break  # the closing delimiter
            line_end = data.find(b"\n", at, end)
            if line_end < 0:
                break
            child_start = line_end + 1
            following = _find_delimiter(data, delimiter, child_start, end)
            child_end = following if following >= 0 else end
            if child_end > child_start and data[child_end - 1] == 0x0A:
                child_end -= 1
                if child_end > child_start and data[child_end - 1] == 0x0D:
                    child_end -= 1
            out.append(delimiter + b"\r\n")
            _reduce(data, child_start, child_end, depth + 1, rfc822, budget, drop, out, skipped)
            out.append(b"\r\n")
            at = following
        out.append(delimiter + b"--\r\n")
        return
    if ctype in MESSAGE_TYPES:
        if rfc822 >= limits.max_rfc822_depth:
            budget.exceed(
                "max_rfc822_depth",
                f"attached messages nested deeper than {limits.max_rfc822_depth}",
            )
            return
        _reduce(data, body_start, end, depth + 1, rfc822 + 1, budget, drop, out, skipped)
        return
    size = end - body_start
    if ctype.startswith("text/") or _attachment_name(headers).endswith(".eml"):
        limit = limits.max_html_bytes if ctype == "text/html" else limits.max_text_bytes
        keep = _ENCODED_FACTOR * limit
        if size > keep:
            name = "max_html_bytes" if ctype == "text/html" else "max_text_bytes"
            budget.exceed(name, f"a {ctype} part of {size} bytes was cut")
            cut = data.rfind(b"\n", body_start, body_start + keep)
            out.append(data[body_start : cut if cut > body_start else body_start + keep])
            return
        out.append(data[body_start:end])
    elif drop:
        skipped.parts += 1
        skipped.bytes += size
    else:
        out.append(data[body_start:end])


__all__ = ["KEPT_HEADERS", "Message", "decode_bytes", "parse_message", "skeleton"]
