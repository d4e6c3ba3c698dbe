"""Digest delivery: turn the outbox into digests, and digests into sent mail, exactly once.

``prepare_digest`` renders a digest from a mailbox's unreported events and, in the same
transaction, assigns those events to it; ``deliver_pending`` sends every pending digest and marks
it sent. A digest that fails to send stays pending with its stable Message-ID and is retried later;
its events are never put into another digest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.digest import (
    DigestEvent,
    EventKind,
    MailboxHealth,
    RenderedDigest,
    build_digest,
    header_safe,
    is_empty,
)
from acchub_mailbot.errors import DeliveryFailed
from acchub_mailbot.outbox import send, write_eml
from acchub_mailbot.poller import backoff
from acchub_mailbot.store.events import pending_digests, unassigned_events
from acchub_mailbot.store.models import Digest, Event, MailboxState, utcnow
from acchub_mailbot.templating import render_digest

log = logging.getLogger(__name__)


def to_digest_event(event: Event) -> DigestEvent:
    payload = event.payload or {}
    return DigestEvent(
        id=event.id,
        kind=EventKind(event.kind),
        mailbox=event.mailbox,
        occurred_at=event.created_at,
        client_name=payload.get("client_name"),
        client_url=payload.get("client_url"),
        access_link=payload.get("access_link"),
        add_client_link=payload.get("add_client_link"),
        subject=payload.get("subject"),
        sender=payload.get("sender"),
        message_id=payload.get("message_id"),
        reasons=tuple(payload.get("reasons") or ()),
        rejected_url=payload.get("rejected_url"),
    )


def mailbox_health(session: Session, names: Sequence[str]) -> list[MailboxHealth]:
    health = []
    for name in names:
        state = session.get(MailboxState, name)
        health.append(
            MailboxHealth(
                name=name,
                last_poll_at=state.last_poll_at if state else None,
                last_success_at=state.last_success_at if state else None,
                last_error=state.last_error if state else None,
                errors_since_success=state.errors_since_success if state else 0,
            )
        )
    return health


def render_for(
    session: Session,
    settings: Settings,
    mailbox: MailboxSettings,
    events: Sequence[Event],
    now: datetime,
) -> tuple[RenderedDigest, bool]:
    """Render the digest for these events; also says whether it would be empty."""
    content = build_digest(
        [to_digest_event(e) for e in events],
        mailbox_health(session, [mailbox.name]),
        language=mailbox.language or settings.digest.language,
        now=now,
        timezone=settings.digest.timezone,
    )
    rendered = render_digest(content, templates_dir=settings.digest.templates_dir)
    return rendered, is_empty(content)


def prepare_digest(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    *,
    now: datetime | None = None,
) -> int | None:
    """Create a pending digest from the unreported events; returns its id, or None if none due."""
    now = now or utcnow()
    with sessions.begin() as session:
        events = unassigned_events(session, mailbox.name, lock=True)
        if not events and not settings.digest.send_empty:
            return None
        rendered, empty = render_for(session, settings, mailbox, events, now)
        if empty and not settings.digest.send_empty:
            return None
        domain = settings.digest.from_.rpartition("@")[2] or "acchub-mailbot.invalid"
        digest = Digest(
            mailbox=mailbox.name,
            message_id=make_msgid("acchub-digest", domain=domain),
            status="pending",
            recipients={"to": list(mailbox.digest_to)},
            subject=header_safe(rendered.subject),
            text_body=rendered.text,
            html_body=rendered.html,
            created_at=now,
        )
        session.add(digest)
        session.flush()
        for event in events:
            event.digest_id = digest.id
        log.info(
            "mailbox=%s digest %d prepared with %d events: %s",
            mailbox.name,
            digest.id,
            len(events),
            digest.subject,
        )
        return digest.id


def build_email(settings: Settings, digest: Digest) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_safe(digest.subject)
    message["From"] = settings.digest.from_
    recipients = list((digest.recipients or {}).get("to") or [])
    if recipients:
        message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(digest.created_at)
    message["Message-ID"] = digest.message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Acchub-Mailbox"] = digest.mailbox
    message.set_content(digest.text_body)
    message.add_alternative(digest.html_body, subtype="html")
    return message


def deliver_pending(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    ignore_backoff: bool = False,
) -> list[str]:
    """Send (or write) every pending digest; returns where each went, for the CLI's output."""
    now = now or utcnow()
    delivered: list[str] = []
    with sessions() as session:
        digests = list(pending_digests(session, now, ignore_backoff=ignore_backoff))
    for digest in digests:
        message = build_email(settings, digest)
        recipients = list((digest.recipients or {}).get("to") or [])
        try:
            failpoints.hit("digest-send")
            where = _deliver(settings, digest, message, recipients)
        except DeliveryFailed as exc:
            with sessions.begin() as session:
                row = session.get(Digest, digest.id)
                if row is not None:
                    row.attempts = (row.attempts or 0) + 1
                    row.last_error = str(exc)
                    row.next_attempt_at = utcnow() + backoff(row.attempts, 60.0, 3600.0)
            log.warning("digest %d not sent, retried later: %s", digest.id, exc)
            continue
        failpoints.hit("digest-sent")
        with sessions.begin() as session:
            row = session.get(Digest, digest.id)
            if row is not None:
                row.status = "sent"
                row.sent_at = utcnow()
                row.attempts = (row.attempts or 0) + 1
                row.last_error = None
        log.info("mailbox=%s digest %d delivered to %s", digest.mailbox, digest.id, where)
        delivered.append(where)
    return delivered


def _deliver(
    settings: Settings, digest: Digest, message: EmailMessage, recipients: list[str]
) -> str:
    out_dir = settings.digest.output_dir
    if settings.smtp is not None and recipients:
        send(settings.smtp, message)
        where = ", ".join(recipients)
        if out_dir is not None:
            write_eml(out_dir, f"digest-{digest.id:06d}", message)
        return where
    if out_dir is None:
        raise DeliveryFailed(
            "no way to deliver the digest: configure smtp and digest_to, or digest.output_dir"
        )
    path = write_eml(out_dir, f"digest-{digest.id:06d}", message)
    html_path = path.with_suffix(".html")
    html_path.write_text(digest.html_body, encoding="utf-8")
    return str(path)
