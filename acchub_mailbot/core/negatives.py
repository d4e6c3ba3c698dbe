"""Why a message that mentions an invitation is not one: bounces, auto-replies, lists, replies.

These checks come before any link analysis, because such messages often *contain* a complete
invitation (a bounce carries the original, a reply quotes it) and must never register a client.
"""

from __future__ import annotations

import re

from acchub_mailbot.core.forwards import REPLY_PREFIXES, ForwardInfo, SubjectInfo, is_reply_subject
from acchub_mailbot.core.messages import Message

#: Part types that only delivery reports (RFC 3464) and read receipts contain.
REPORT_TYPES = ("multipart/report", "message/delivery-status", "message/disposition-notification")
#: Subjects of automatic mail from common servers and clients (en, de, fr, nl, es, da/sv, it).
AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matische)? ?(?:reply|antwort|antwoord)|autoreply|"
    r"out of (?:the )?office|abwesenheitsnotiz|réponse automatique|automatisch antwoord|"
    r"respuesta automática|autosvar|risposta automatica|undeliverable|undelivered mail|"
    r"delivery status notification|mail delivery (?:failed|failure)|unzustellbar|non remis|"
    r"returned mail|failure notice)\b",
    re.IGNORECASE,
)
#: Part types of meeting requests, responses and cancellations (iCalendar, RFC 5545/6047).
CALENDAR_TYPES = ("text/calendar", "application/ics")
#: Headers only non-delivery reports carry, whatever their layout (Exchange, Exim, Postfix...).
NDR_HEADERS = ("x-ms-exchange-message-is-ndr", "x-failed-recipients")
#: Senders of delivery reports on every server.
NDR_SENDERS = re.compile(r"(?i)^(?:mailer-daemon|postmaster|mail-daemon|bounces?)@")
#: Outlook's recall messages and read receipts, by the subject prefix each language gives them.
RECALL_OR_RECEIPT_SUBJECT = re.compile(
    r"^\s*(?:recall|rückruf|rappel|terugroepen|recuperar|richiamo|återkalla|tilbagekald|"
    r"read|gelesen|lu|gelezen|leído|letto|läst|læst|not read|ungelesen|non lu)\s*:",
    re.IGNORECASE,
)
#: Styles that are quoting rather than forwarding.
QUOTE_STYLES = ("quoted", "reply-attribution")


def automatic_reason(message: Message) -> str | None:
    """A reason when the message was sent by a machine on someone's behalf, else ``None``."""
    types = (message.content_type, *message.part_types)
    report = next((t for t in types if t in REPORT_TYPES), None)
    if report:
        return f"delivery report ({report})"
    calendar = next((t for t in types if t in CALENDAR_TYPES), None)
    if calendar:
        return f"meeting request or response ({calendar})"
    headers = message.headers
    ndr = next((h for h in NDR_HEADERS if h in headers), None)
    if ndr:
        return f"non-delivery report ({ndr} header)"
    if NDR_SENDERS.match(message.sender or ""):
        return f"non-delivery report (sent by {message.sender})"
    if RECALL_OR_RECEIPT_SUBJECT.search(message.subject):
        return "message recall or read receipt (subject)"
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"automatic message (Auto-Submitted: {auto})"
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return "automatic reply (X-Autoreply header)"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in ("auto_reply", "bulk", "list", "junk"):
        return f"automatic or bulk message (Precedence: {precedence})"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing-list or newsletter message (List-Id/List-Unsubscribe)"
    if AUTOMATIC_SUBJECT.search(message.subject):
        return "automatic reply or bounce (subject)"
    return None


def reply_reason(message: Message, subject: SubjectInfo, forward: ForwardInfo | None) -> str | None:
    """A reason when the message answers (quotes) an earlier message instead of passing it on."""
    if subject.replied:
        first = next(p for p in subject.prefixes if p in REPLY_PREFIXES)
        return f"reply (subject prefix {first.capitalize()}:)"
    forwarded = subject.forwarded or bool(message.attached)
    if forward is not None and forward.style not in QUOTE_STYLES:
        forwarded = True
    if message.headers.get("in-reply-to") and not forwarded:
        return "reply (In-Reply-To header, no sign of a forward)"
    if forward is not None and is_reply_subject(forward.original_subject or ""):
        return "a forwarded reply (the forwarded message's subject is a reply)"
    return None


__all__ = ["automatic_reason", "reply_reason"]
