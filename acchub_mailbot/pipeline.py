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
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acchub_mailbot.handlers import decide
from acchub_mailbot.handlers.base import Decision, Handler, Verdict
from acchub_mailbot.messages import parse_message
from acchub_mailbot.store import registry
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.models import Client, ProcessedMessage
from acchub_mailbot.urlrules import check_client_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    """What processing one message did, for logs and counters."""

    verdict: str
    client_id: int | None = None
    created: bool = False
    duplicate: bool = False
    events: tuple[str, ...] = ()


def decide_bytes(raw: bytes, handlers: Sequence[Handler] | None = None) -> tuple[Any, Decision]:
    """Parse and decide; pure."""
    message = parse_message(raw)
    decision = decide(message) if handlers is None else decide(message, tuple(handlers))
    return message, decision


def _already_reported(session: Session, row: ProcessedMessage, key: str | None) -> int | None:
    """An earlier message of this mailbox with the same invitation, already decided."""
    if not key:
        return None
    earlier = session.scalar(
        select(ProcessedMessage.id)
        .where(
            ProcessedMessage.mailbox == row.mailbox,
            ProcessedMessage.id != row.id,
            ProcessedMessage.state.in_(("decided", "done")),
            (ProcessedMessage.original_message_id == key) | (ProcessedMessage.message_id == key),
        )
        .limit(1)
    )
    return earlier


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


def apply_message(
    session: Session,
    row: ProcessedMessage,
    raw: bytes,
    *,
    live_check: bool,
    now: datetime,
    handlers: Sequence[Handler] | None = None,
) -> Applied:
    """Decide one message and record everything that follows from it in ``session``."""
    message, decision = decide_bytes(raw, handlers)
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
    }
    row.state = "decided"
    row.last_error = None
    row.next_attempt_at = None

    duplicate_of = _already_reported(session, row, row.original_message_id)
    if duplicate_of is not None:
        row.duplicate_of = duplicate_of
    events: list[str] = []

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
        row.client_id = result.client_id
        if result.created:
            kind = "pending_verification" if live_check else "registered"
            add_event(session, row.mailbox, kind, _event_payload(decision, row), now=now)
            events.append(kind)
        return Applied(
            decision.verdict.value,
            result.client_id,
            result.created,
            duplicate_of is not None,
            tuple(events),
        )

    if decision.verdict in (Verdict.REJECTED, Verdict.NEEDS_REVIEW) and duplicate_of is None:
        kind = "rejected" if decision.verdict is Verdict.REJECTED else "needs_review"
        add_event(session, row.mailbox, kind, _event_payload(decision, row), now=now)
        events.append(kind)
    return Applied(decision.verdict.value, None, False, duplicate_of is not None, tuple(events))


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
