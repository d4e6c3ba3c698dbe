"""Digest delivery: turn the outbox into digests, and digests into sent mail, exactly once.

``prepare_digest`` renders a digest from a mailbox's unreported events and, in the same
transaction, assigns those events to it; ``deliver_pending`` sends every pending digest and marks
it sent. A digest that fails to send stays pending with its stable Message-ID and is retried later;
its events are never put into another digest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.app.backoff import backoff
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.core.linkmask import mask_link
from acchub_mailbot.errors import DeliveryFailed
from acchub_mailbot.mail.outbox import send, write_eml
from acchub_mailbot.report.digest import (
    DigestEvent,
    EventKind,
    MailboxHealth,
    RenderedDigest,
    SendingHealth,
    build_digest,
    is_empty,
)
from acchub_mailbot.report.safetext import header_safe
from acchub_mailbot.report.templating import render_digest
from acchub_mailbot.store import claims
from acchub_mailbot.store.events import assign_events, unassigned_events
from acchub_mailbot.store.holders import gone_here
from acchub_mailbot.store.models import Confirmation, Digest, Event, MailboxState, utcnow

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


def sending_health(session: Session) -> SendingHealth:
    held = claims.held_back(session)
    return SendingHealth(held.digests, held.confirmations, held.since, held.last_error)


def render_for(
    session: Session,
    settings: Settings,
    mailbox: MailboxSettings,
    events: Sequence[Event],
    now: datetime,
    *,
    language: str | None = None,
    with_health: bool = True,
    masked: bool = False,
) -> tuple[RenderedDigest, bool]:
    """Render the digest for these events; also says whether it would be empty. ``masked``
    shows access links as the dashboard does (a preview on screen, not the mail)."""
    digest_events = [to_digest_event(e) for e in events]
    if masked:
        digest_events = [
            replace(
                e,
                access_link=mask_link(e.access_link),
                add_client_link=mask_link(e.add_client_link),
            )
            for e in digest_events
        ]
    content = build_digest(
        digest_events,
        mailbox_health(session, [mailbox.name]) if with_health else [],
        language=language or mailbox.language or settings.digest.language,
        now=now,
        timezone=settings.digest.timezone,
        sending=sending_health(session) if with_health else None,
    )
    rendered = render_digest(content, templates_dir=settings.digest.templates_dir)
    return rendered, is_empty(content)


def audience_recipients(mailbox: MailboxSettings, audience: str) -> list[str]:
    """Who receives the digest for one audience ("" admins, "owner:ADDRESS" one accountant)."""
    if audience.startswith("owner:"):
        return [audience.removeprefix("owner:")]
    return list(mailbox.admin_recipients)


def audience_language(settings: Settings, mailbox: MailboxSettings, audience: str) -> str:
    """The language of one audience's digest: an accountant's own, else the mailbox's, else
    the digest's."""
    if audience.startswith("owner:"):
        return mailbox.language_for(audience.removeprefix("owner:"), settings.digest.language)
    return mailbox.language or settings.digest.language


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
    try:
        return _prepare(sessions, settings, mailbox, now)
    except _Raced:
        log.debug("mailbox=%s: its digest was prepared by another sender", mailbox.name)
        return []


class _Raced(Exception):
    """Another transaction assigned the events first; this one rolls back."""


def _prepare(
    sessions: sessionmaker[Session], settings: Settings, mailbox: MailboxSettings, now: datetime
) -> list[int]:
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
            language = audience_language(settings, mailbox, audience)
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
            if not assign_events(session, [e.id for e in members], digest.id):
                # Another preparer took these events first (SQLite reads them unlocked): its
                # digest reports them, so this one is abandoned whole.
                raise _Raced
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
    claimer: str,
    now: datetime | None = None,
    ignore_backoff: bool = False,
) -> list[str]:
    """Send (or write) every pending digest this sender wins the claim of; returns where each
    went, for the CLI's output. Losers skip the digest: its winner sends it."""
    now = now or utcnow()
    delivered: list[str] = []
    gone = gone_claimers(sessions, Digest, claimer)
    with sessions() as session:
        ids = list(claims.claimable(session, Digest, now, ignore_backoff=ignore_backoff, dead=gone))
    for digest_id in ids:
        with sessions.begin() as session:
            won = claims.claim(
                session, Digest, digest_id, claimer, utcnow(),
                ignore_backoff=ignore_backoff, dead=gone,
            )  # fmt: skip
            digest = session.get(Digest, digest_id) if won else None
        if digest is None:
            continue
        message = build_email(settings, digest)
        recipients = list((digest.recipients or {}).get("to") or [])
        try:
            failpoints.hit("digest-send")
            where = _deliver(settings, digest, message, recipients)
        except DeliveryFailed as exc:
            with sessions.begin() as session:
                retry_at = utcnow() + backoff((digest.attempts or 0) + 1, 60.0, 3600.0)
                claims.mark_failed(session, Digest, digest_id, claimer, str(exc), retry_at)
            log.warning("digest %d not sent, retried later: %s", digest_id, exc)
            continue
        failpoints.hit("digest-sent")
        with sessions.begin() as session:
            kept = claims.mark_sent(session, Digest, digest_id, claimer, utcnow())
        if not kept:
            log.warning(
                "digest %d was sent after its claim ran out; another sender may send it again",
                digest_id,
            )
        log.info("mailbox=%s digest %d delivered to %s", digest.mailbox, digest_id, where)
        delivered.append(where)
    return delivered


def gone_claimers(sessions: sessionmaker[Session], model: claims.Outgoing, me: str) -> set[str]:
    """Claimers of rows in ``sending`` that were processes on this host and no longer run."""
    with sessions() as session:
        holders = claims.claimers(session, model)
    return {h for h in holders if gone_here(h, own_id=me)}


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
    claimer: str,
    now: datetime | None = None,
    ignore_backoff: bool = False,
) -> int:
    """Send the queued replies to forwarders, each by the one sender that claims it; each is
    marked sent right after the server took it, and keeps its Message-ID across retries."""
    now = now or utcnow()
    if settings.smtp is None:
        return 0
    gone = gone_claimers(sessions, Confirmation, claimer)
    with sessions() as session:
        ids = list(
            claims.claimable(session, Confirmation, now, ignore_backoff=ignore_backoff, dead=gone)
        )
    sent = 0
    for confirmation_id in ids:
        with sessions.begin() as session:
            won = claims.claim(
                session, Confirmation, confirmation_id, claimer, utcnow(),
                ignore_backoff=ignore_backoff, dead=gone,
            )  # fmt: skip
            item = session.get(Confirmation, confirmation_id) if won else None
        if item is None:
            continue
        message = confirmation_email(settings, item)
        try:
            send(settings.smtp, message)
        except DeliveryFailed as exc:
            with sessions.begin() as session:
                retry_at = utcnow() + backoff((item.attempts or 0) + 1, 60.0, 3600.0)
                claims.mark_failed(
                    session, Confirmation, confirmation_id, claimer, str(exc), retry_at
                )
            log.warning(
                "confirmation %d to %s not sent, retried later: %s",
                confirmation_id,
                item.to_address,
                exc,
            )
            continue
        with sessions.begin() as session:
            claims.mark_sent(session, Confirmation, confirmation_id, claimer, utcnow())
        log.info(
            "mailbox=%s confirmation sent to %s (%s)", item.mailbox, item.to_address, item.kind
        )
        sent += 1
    return sent


def confirmation_email(settings: Settings, item: Confirmation) -> EmailMessage:
    """The reply as sent; built from the stored row, so a re-send is the same mail."""
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
    return message
