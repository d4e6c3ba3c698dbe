"""One message's way through the system: parse, decide, and record the outcome.

Everything here happens inside the caller's transaction: the message row, the registration and
the digest events are committed together, or not at all. The server-side action (flag, move) is
carried out by the poller only after that commit, so a crash in between leaves a committed row
whose action is simply redone on the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.core.forward_policy import ForwarderPolicy, ForwardJudgement, judge_forward
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.messages import Message, parse_message
from acchub_mailbot.core.urlrules import check_client_url
from acchub_mailbot.handlers import decide
from acchub_mailbot.handlers.base import Decision, Handler, Verdict
from acchub_mailbot.logs import quoted
from acchub_mailbot.report.confirmations import build_confirmation, outcome_of, should_confirm
from acchub_mailbot.store import owners, registry
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.models import Client, ProcessedMessage

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.pipeline")


@dataclass(frozen=True)
class Applied:
    """What processing one message did, for logs and counters."""

    verdict: str
    client_id: int | None = None
    created: bool = False
    duplicate: bool = False
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailboxRules:
    """What one mailbox's config says about forwards, owners, digests and replies."""

    name: str
    policy: ForwarderPolicy
    admin_digest: bool
    owner_digests: bool
    confirm: bool
    confirm_per_hour: int
    own_addresses: frozenset[str]
    default_language: str
    templates_dir: Path | None
    mailbox: MailboxSettings

    @classmethod
    def of(cls, settings: Settings, mailbox: MailboxSettings) -> MailboxRules:
        return cls(
            name=mailbox.name,
            policy=ForwarderPolicy.build(
                forwarders=mailbox.forwarders,
                mailbox_address=mailbox.imap.username,
                digest_to=mailbox.admin_recipients,
                trusted_authserv_id=mailbox.trusted_authserv_id,
                trust_without_authresults=mailbox.trust_without_authresults,
            ),
            admin_digest=bool(mailbox.admin_recipients) or not mailbox.digest_to_forwarders,
            owner_digests=mailbox.digest_to_forwarders,
            confirm=mailbox.confirm.enabled,
            confirm_per_hour=mailbox.confirm.max_per_sender_per_hour,
            own_addresses=frozenset(
                a.lower() for a in (settings.digest.from_, mailbox.imap.username) if "@" in a
            ),
            default_language=mailbox.language or settings.digest.language,
            templates_dir=settings.digest.templates_dir,
            mailbox=mailbox,
        )

    def language_for(self, address: str) -> str:
        return self.mailbox.language_for(address, self.default_language)


def decide_bytes(
    raw: bytes, handlers: Sequence[Handler] | None = None, limits: Limits | None = None
) -> tuple[Any, Decision]:
    """Parse and decide, within the configured limits; pure."""
    message = parse_message(raw, limits=limits or Limits())
    decision = decide(message) if handlers is None else decide(message, tuple(handlers))
    return message, decision


def _already_reported(session: Session, row: ProcessedMessage, key: str | None) -> int | None:
    """An earlier message of this mailbox with the same invitation, already decided.

    Looked up by Message-ID alone, one column at a time, so that the database uses that
    column's index (with the mailbox in the query too, SQLite prefers the mailbox index and
    reads every row of the mailbox); the few rows found are filtered here.
    """
    if not key:
        return None
    for column in (ProcessedMessage.original_message_id, ProcessedMessage.message_id):
        found = session.execute(
            select(ProcessedMessage.id, ProcessedMessage.mailbox, ProcessedMessage.state).where(
                column == key
            )
        ).all()
        for earlier, mailbox, state in sorted(found):
            if earlier != row.id and mailbox == row.mailbox and state in ("decided", "done"):
                return int(earlier)
    return None


def _event_payload(decision: Decision, row: ProcessedMessage) -> dict[str, Any]:
    return {
        "client_name": decision.company_name,
        "client_url": decision.client_url,
        "access_link": decision.access_link,
        "add_client_link": decision.add_client_link,
        "subject": row.subject,
        "sender": row.sender,
        "message_id": decision.original_message_id or row.message_id,
        "reasons": list(decision.reasons),
        "rejected_url": decision.rejected_url,
    }


def _audiences(rules: MailboxRules | None, judgement: ForwardJudgement | None) -> list[str]:
    """Who hears about this message: the admins and/or the accountant who forwarded it."""
    audiences = [""] if rules is None or rules.admin_digest else []
    if (
        rules is not None
        and rules.owner_digests
        and judgement is not None
        and judgement.allowed
        and judgement.forwarder
    ):
        audiences.append(f"owner:{judgement.forwarder}")
    return audiences


def apply_message(
    session: Session,
    row: ProcessedMessage,
    raw: bytes,
    *,
    live_check: bool,
    now: datetime,
    handlers: Sequence[Handler] | None = None,
    rules: MailboxRules | None = None,
    limits: Limits | None = None,
) -> Applied:
    """Decide one message and record everything that follows from it in ``session``."""
    message, decision = decide_bytes(raw, handlers, limits)
    judgement = judge_forward(message, decision, rules.policy) if rules is not None else None
    if judgement is not None:
        decision = judgement.decision
    row.message_id = (message.message_id or "")[:998] or None
    row.original_message_id = (decision.original_message_id or row.message_id or "")[:998] or None
    row.subject = message.subject[:2000]
    row.sender = message.sender[:320] or None
    row.size = len(raw)
    row.verdict = decision.verdict.value
    row.handler = decision.handler
    row.reasons = {
        "reasons": list(decision.reasons),
        "forward_style": decision.forward_style,
        "forwarded_by": decision.forwarded_by,
        "forwarder": judgement.forwarder if judgement else None,
        "forwarder_allowed": judgement.allowed if judgement else None,
        # What "register anyway" in Needs attention registers, after a person looked.
        "candidate": {
            "client_url": decision.client_url,
            "company_name": decision.company_name,
            "access_link": decision.access_link,
            "add_client_link": decision.add_client_link,
            "rejected_url": decision.rejected_url,
        },
    }
    row.state = "decided"
    row.last_error = None
    row.next_attempt_at = None

    duplicate_of = _already_reported(session, row, row.original_message_id)
    if duplicate_of is not None:
        row.duplicate_of = duplicate_of
    audiences = _audiences(rules, judgement)
    payload = _event_payload(decision, row)
    events: list[str] = []
    client_id: int | None = None
    created = False

    if decision.verdict is Verdict.INVITATION and decision.client_url:
        rule = check_client_url(decision.client_url, allow_environment=True)
        status = "pending_verification" if live_check else "registered"
        result = registry.register_invitation(
            session,
            client_url=decision.client_url,
            tenant=rule.tenant,
            name=decision.company_name,
            access_link=decision.access_link,
            add_client_link=decision.add_client_link,
            status=status,
            mailbox=row.mailbox,
            message_id=row.original_message_id,
            now=now,
        )
        client_id, created = result.client_id, result.created
        row.client_id = client_id
        new_owner = False
        if judgement is not None and judgement.allowed and judgement.forwarder:
            new_owner = owners.add_owner(
                session, client_id, judgement.forwarder, message_id=row.message_id, now=now
            )
        kind = "pending_verification" if live_check else "registered"
        if created:
            targets = audiences
        elif new_owner:
            # Already known to the admins; new to this accountant.
            targets = [a for a in audiences if a.startswith("owner:")]
        else:
            targets = []
        for audience in targets:
            add_event(session, row.mailbox, kind, payload, now=now, audience=audience)
        if targets:
            events.append(kind)
    elif decision.verdict in (Verdict.REJECTED, Verdict.NEEDS_REVIEW) and duplicate_of is None:
        kind = "rejected" if decision.verdict is Verdict.REJECTED else "needs_review"
        # Refused forwards go to the admins only (audiences holds no owner then).
        for audience in audiences or [""]:
            add_event(session, row.mailbox, kind, payload, now=now, audience=audience)
        events.append(kind)

    if rules is not None and rules.confirm and judgement is not None and judgement.forwarder:
        _queue_confirmation(
            session, row, message, decision, judgement, rules, client_id, created, now
        )
    return Applied(
        decision.verdict.value, client_id, created, duplicate_of is not None, tuple(events)
    )


def _queue_confirmation(
    session: Session,
    row: ProcessedMessage,
    message: Message,
    decision: Decision,
    judgement: ForwardJudgement,
    rules: MailboxRules,
    client_id: int | None,
    created: bool,
    now: datetime,
) -> None:
    """Queue the reply to the forwarder in this transaction; it is sent after the commit."""
    forwarder = judgement.forwarder or ""
    recent = owners.recent_confirmations(session, forwarder, now - timedelta(hours=1))
    refusal = should_confirm(
        message, forwarder, rules.policy, recent, rules.confirm_per_hour, rules.own_addresses
    )
    if refusal is not None:
        log.info(
            "mailbox=%s message_id=%s no confirmation: %s",
            row.mailbox,
            quoted(row.message_id),
            quoted(refusal),
        )
        return
    client = session.get(Client, client_id) if client_id is not None else None
    outcome, reason = outcome_of(decision, client.status if client else None)
    reply = build_confirmation(
        message,
        outcome,
        mailbox=rules.name,
        client_name=(client.name if client else None) or decision.company_name,
        client_url=client.client_url if client else decision.client_url,
        reason=reason,
        known_before=client is not None and not created,
        language=rules.language_for(forwarder),
        templates_dir=rules.templates_dir,
    )
    domain = next(iter(sorted(rules.own_addresses)), "acchub-mailbot.invalid").rpartition("@")[2]
    owners.enqueue_confirmation(
        session,
        mailbox=rules.name,
        to_address=forwarder,
        message_row_id=row.id,
        message_id=make_msgid("acchub-confirm", domain=domain),
        kind=outcome.value,
        subject=reply.subject,
        text=reply.text,
        html=reply.html,
        in_reply_to=reply.in_reply_to,
        references=reply.references,
        now=now,
    )


def clients_due_for_verification(session: Session, now: datetime, limit: int = 50) -> list[int]:
    rows = session.scalars(
        select(Client.id)
        .where(
            Client.status == "pending_verification",
            (Client.next_verification_at.is_(None)) | (Client.next_verification_at <= now),
        )
        .order_by(Client.id)
        .limit(limit)
    ).all()
    return list(rows)
