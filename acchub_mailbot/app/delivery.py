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
from acchub_mailbot.app.backoff import backoff
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.errors import DeliveryFailed
from acchub_mailbot.mail.outbox import send, write_eml
from acchub_mailbot.report.digest import (
    DigestEvent,
    EventKind,
    MailboxHealth,
    RenderedDigest,
    build_digest,
    is_empty,
)
from acchub_mailbot.report.safetext import header_safe
from acchub_mailbot.report.templating import render_digest
from acchub_mailbot.store import owners
from acchub_mailbot.store.events import pending_digests, unassigned_events
from acchub_mailbot.store.models import Digest, Event, MailboxState, utcnow

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.reporting")


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
    *,
    language: str | None = None,
    with_health: bool = True,
) -> tuple[RenderedDigest, bool]:
    """Render the digest for these events; also says whether it would be empty."""
    content = build_digest(
        [to_digest_event(e) for e in events],
        mailbox_health(session, [mailbox.name]) if with_health else [],
        language=language or mailbox.language or settings.digest.language,
        now=now,
        timezone=settings.digest.timezone,
    )
    rendered = render_digest(content, templates_dir=settings.digest.templates_dir)
    return rendered, is_empty(content)


def audience_recipients(mailbox: MailboxSettings, audience: str) -> list[str]:
    """Who receives the digest for one audience ("" admins, "owner:ADDRESS" one accountant)."""
    if audience.startswith("owner:"):
        return [audience.removeprefix("owner:")]
    return list(mailbox.admin_recipients)


def prepare_digest(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    *,
    now: datetime | None = None,
) -> list[int]:
    """Create pending digests from the unreported events, one per audience (the admins, and
    each accountant when ``digest_to`` says ``forwarders``); returns their ids."""
    now = now or utcnow()
    created: list[int] = []
    with sessions.begin() as session:
        events = unassigned_events(session, mailbox.name, lock=True)
        groups: dict[str, list[Event]] = {}
        for event in events:
            groups.setdefault(event.audience or "", []).append(event)
        if settings.digest.send_empty and "" not in groups and mailbox.admin_recipients:
            groups[""] = []
        for audience, members in sorted(groups.items()):
            owner = audience.removeprefix("owner:") if audience.startswith("owner:") else None
            language = (
                mailbox.language_for(owner, settings.digest.language)
                if owner
                else mailbox.language or settings.digest.language
            )
            rendered, empty = render_for(
                session, settings, mailbox, members, now, language=language, with_health=not owner
            )
            if empty and not (settings.digest.send_empty and not owner):
                for event in members:
                    event.digest_id = None
                continue
            digest = _new_digest(settings, mailbox, rendered, audience, now)
            session.add(digest)
            session.flush()
            for event in members:
                event.digest_id = digest.id
            created.append(digest.id)
            log.info(
                "mailbox=%s digest %d prepared for %s with %d events: %s",
                mailbox.name,
                digest.id,
                owner or "the mailbox's recipients",
                len(members),
                digest.subject,
            )
    return created


def _new_digest(
    settings: Settings,
    mailbox: MailboxSettings,
    rendered: RenderedDigest,
    audience: str,
    now: datetime,
) -> Digest:
    domain = settings.digest.from_.rpartition("@")[2] or "acchub-mailbot.invalid"
    return Digest(
        mailbox=mailbox.name,
        message_id=make_msgid("acchub-digest", domain=domain),
        status="pending",
        recipients={"to": audience_recipients(mailbox, audience), "audience": audience},
        subject=header_safe(rendered.subject),
        text_body=rendered.text,
        html_body=rendered.html,
        created_at=now,
    )


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


def deliver_confirmations(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    ignore_backoff: bool = False,
) -> int:
    """Send the queued replies to forwarders; each is marked sent right after the server took
    it, and keeps its Message-ID across retries."""
    now = now or utcnow()
    if settings.smtp is None:
        return 0
    with sessions() as session:
        pending = list(owners.pending_confirmations(session, now, ignore_backoff=ignore_backoff))
    sent = 0
    for item in pending:
        message = EmailMessage()
        message["Subject"] = header_safe(item.subject)
        message["From"] = settings.digest.from_
        message["To"] = item.to_address
        message["Date"] = format_datetime(item.created_at)
        message["Message-ID"] = item.message_id
        message["Auto-Submitted"] = "auto-replied"
        message["X-Acchub-Confirmation"] = item.kind
        message["X-Acchub-Mailbox"] = item.mailbox
        if item.in_reply_to:
            message["In-Reply-To"] = item.in_reply_to
        if item.references:
            message["References"] = item.references
        message.set_content(item.text)
        message.add_alternative(item.html, subtype="html")
        try:
            send(settings.smtp, message)
        except DeliveryFailed as exc:
            with sessions.begin() as session:
                owners.mark_confirmation_failed(
                    session,
                    item.id,
                    str(exc),
                    utcnow() + backoff((item.attempts or 0) + 1, 60.0, 3600.0),
                )
            log.warning(
                "confirmation %d to %s not sent, retried later: %s", item.id, item.to_address, exc
            )
            continue
        with sessions.begin() as session:
            owners.mark_confirmation_sent(session, item.id, utcnow())
        log.info(
            "mailbox=%s confirmation sent to %s (%s)", item.mailbox, item.to_address, item.kind
        )
        sent += 1
    return sent
