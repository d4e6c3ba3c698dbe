"""The confirmation reply: tell the accountant who forwarded an invitation what became of it.

In a shared mailbox the accountant wants to know within a minute that their forward arrived and
whether the client was registered. The reply is an automatic message (RFC 3834): it carries
``Auto-Submitted: auto-replied`` and threads under the forward (``In-Reply-To``/``References``).
Automatic replies cause mail loops and backscatter when sent carelessly, so
:func:`should_confirm` refuses to answer machines (auto-replies, bounces, lists), our own mail,
strangers, and anyone who already got ``limit`` replies this hour.

Pure: the shell counts recent confirmations, stores the rendered reply in the outbox in the
transaction that records the message (exactly once per forwarded message), and sends it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from acchub_mailbot.core.forward_policy import ForwarderPolicy
from acchub_mailbot.core.messages import Message
from acchub_mailbot.core.negatives import automatic_reason
from acchub_mailbot.handlers.base import Decision, Verdict
from acchub_mailbot.report.safetext import defang_text, header_safe
from acchub_mailbot.report.templating import make_environment

SUBJECT_TEMPLATE = "confirmation.subject.j2"
TEXT_TEMPLATE = "confirmation.txt.j2"
HTML_TEMPLATE = "confirmation.html.j2"
CONFIRMATION_TEMPLATES = (SUBJECT_TEMPLATE, TEXT_TEMPLATE, HTML_TEMPLATE)

#: The header every mail we send carries (the digest has ``X-Acchub-Mailbox``); seeing one on an
#: incoming message means it is our own mail coming back.
OWN_HEADER_PREFIX = "x-acchub"
#: The left part of our confirmations' Message-IDs, so a reply to one is recognised.
MESSAGE_ID_TAG = "acchub-confirm"
#: Local parts that only machines send from.
MACHINE_SENDERS = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(?:[+-].*)?@", re.I
)
#: At most this many Message-IDs in ``References`` (RFC 5322 suggests trimming long chains).
MAX_REFERENCES = 20


class Outcome(StrEnum):
    """What the reply tells the forwarder; the values are used in templates and the outbox."""

    REGISTERED = "registered"
    WAITING = "waiting_for_verification"
    ATTENTION = "needs_attention"
    NOT_INVITATION = "not_invitation"


@dataclass(frozen=True)
class RenderedReply:
    """A confirmation ready for the outbox. ``references`` is the full header value."""

    subject: str
    text: str
    html: str
    in_reply_to: str | None
    references: str | None


def _own_mail(message: Message, own: set[str]) -> str | None:
    if any(name.startswith(OWN_HEADER_PREFIX) for name in message.headers):
        return "our own mail (X-Acchub header)"
    if message.sender and message.sender.lower() in own:
        return f"our own mail (from {message.sender})"
    threads = f"{message.headers.get('in-reply-to', '')} {message.headers.get('references', '')}"
    if MESSAGE_ID_TAG in threads.lower():
        return "a reply to one of our confirmations"
    return None


def _bounce(message: Message) -> str | None:
    # The null reverse-path is how every delivery report and many auto-replies are sent.
    return_path = message.headers.get("return-path")
    if return_path is not None and return_path.split("\n")[0].strip() in ("<>", ""):
        return "a bounce (empty Return-Path)"
    if not message.sender:
        return "no sender address"
    if MACHINE_SENDERS.match(message.sender):
        return f"sent by a machine ({message.sender})"
    return None


def should_confirm(
    message: Message,
    forwarder: str | None,
    policy: ForwarderPolicy,
    recent_count: int,
    limit_per_hour: int,
    own_addresses: frozenset[str] | set[str] | tuple[str, ...],
) -> str | None:
    """``None`` when a confirmation may be sent to ``forwarder``, else the reason not to.

    ``recent_count`` is how many confirmations went to ``forwarder`` in the past hour;
    ``own_addresses`` are our From address and the mailbox's own address (a reply there would land
    in the mailbox we read).
    """
    own = {a.strip().lower() for a in own_addresses if a.strip()}
    if not forwarder:
        return "not a forward: there is nobody to confirm to"
    forwarder = forwarder.strip().lower()
    reason = _own_mail(message, own) or automatic_reason(message) or _bounce(message)
    if reason:
        return reason
    if forwarder in own:
        return f"{forwarder} is our own address"
    if not policy.allows(forwarder):
        return f"{forwarder} is not an allowed forwarder"
    if recent_count >= limit_per_hour:
        return (
            f"rate limit: {recent_count} confirmations sent to {forwarder} in the past hour "
            f"(at most {limit_per_hour})"
        )
    return None


def outcome_of(decision: Decision, client_status: str | None) -> tuple[Outcome, str | None]:
    """The outcome to report and, for ``needs_attention``, the reason to show.

    ``client_status`` is the registered client's status after the message was applied
    (``registered``, ``pending_verification``...), ``None`` when no client was registered.
    """
    if decision.verdict is Verdict.INVITATION and client_status is not None:
        if client_status == "registered":
            return Outcome.REGISTERED, None
        if client_status == "pending_verification":
            return Outcome.WAITING, None
        return Outcome.ATTENTION, f"the client is marked {client_status}"
    if decision.verdict is Verdict.NOT_INVITATION:
        return Outcome.NOT_INVITATION, None
    if decision.verdict is Verdict.REJECTED:
        failed = next((r for r in decision.reasons if r.startswith("rule failed")), None)
        return Outcome.ATTENTION, failed or "a link points outside Business Central"
    reason = decision.reasons[-1] if decision.reasons else "it could not be handled automatically"
    return Outcome.ATTENTION, reason


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline (as the digest)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def thread_headers(message: Message) -> tuple[str | None, str | None]:
    """``(In-Reply-To, References)`` for a reply to ``message`` (RFC 5322 section 3.6.4)."""
    own_id = header_safe(message.message_id or "") or None
    earlier = header_safe(message.headers.get("references", "")).split()
    if not earlier:
        earlier = header_safe(message.headers.get("in-reply-to", "")).split()[:1]
    ids = [i for i in earlier if i.startswith("<") and i.endswith(">")]
    if own_id:
        ids.append(own_id)
    if len(ids) > MAX_REFERENCES:
        # Keep the thread's first message and the most recent ones.
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return own_id, (" ".join(ids) or None)


def build_confirmation(
    message: Message,
    outcome: Outcome,
    *,
    mailbox: str,
    client_name: str | None = None,
    client_url: str | None = None,
    reason: str | None = None,
    known_before: bool = False,
    language: str = "en",
    templates_dir: Path | None = None,
) -> RenderedReply:
    """Render the reply (subject, text, HTML) in ``language``, threaded under ``message``.

    ``known_before`` says the client was already on the list (another accountant's forward, or
    an earlier one): the reply then says the forwarder was added as one of its owners.
    """
    env = make_environment(templates_dir, language)
    context = {
        "outcome": outcome.value,
        "mailbox": header_safe(mailbox),
        "client_name": header_safe(client_name or "") or None,
        "client_url": header_safe(client_url or "") or None,
        # A reason may name a look-alike host; defanged so no mail client makes it a link.
        "reason": defang_text(reason or "") or None,
        "known_before": known_before,
        "language": language,
        "original_subject": header_safe(message.subject) or None,
        "original_sender": header_safe(message.sender) or None,
    }
    subject = env.get_template(SUBJECT_TEMPLATE).render(context)
    text = env.get_template(TEXT_TEMPLATE).render(context)
    html = env.get_template(HTML_TEMPLATE).render(context)
    in_reply_to, references = thread_headers(message)
    return RenderedReply(
        subject=header_safe(subject),
        text=_tidy_text(text),
        html=html.lstrip(),
        in_reply_to=in_reply_to,
        references=references,
    )


__all__ = [
    "CONFIRMATION_TEMPLATES",
    "MESSAGE_ID_TAG",
    "Outcome",
    "RenderedReply",
    "build_confirmation",
    "outcome_of",
    "should_confirm",
    "thread_headers",
]


def check_confirmation_templates(templates_dir: Path | None, languages: Iterable[str]) -> list[str]:
    """Render every outcome's reply with sample data, so a broken template is reported at
    start-up (``check-config``) rather than when the first forward arrives."""
    sample = Message(
        message_id="<sample@acchub-mailbot.invalid>",
        subject="FW: You have been invited to Dynamics 365 Business Central",
        sender="accountant@firm.example",
        sender_name="Accountant",
        to=("invites@firm.example",),
        date=None,
        content_type="multipart/mixed",
        text="",
        html="",
    )
    problems: list[str] = []
    for language in sorted(set(languages)):
        for outcome in Outcome:
            try:
                build_confirmation(
                    sample,
                    outcome,
                    mailbox="sample",
                    client_name="Kestrel Joinery Ltd",
                    client_url="https://businesscentral.dynamics.com/kestrel.onmicrosoft.com",
                    reason="sample reason",
                    language=language,
                    templates_dir=templates_dir,
                )
            except Exception as exc:  # any template fault is reported, not raised
                problems.append(
                    f"confirmation templates ({language}, {outcome.value}): "
                    f"{type(exc).__name__}: {exc}"
                )
                break
    return problems
