"""What the digest email says: events grouped into sections, counted, and made safe to show.

The pipeline records one event per outcome (a client registered, a look-alike rejected, ...).
When a digest is due, the shell loads the events and the mailbox health for one recipient and
calls :func:`build_digest`; :mod:`acchub_mailbot.report.templating` turns the result into a
subject, a text part and an HTML part. Everything here is pure: no clock, no database, no Jinja.

Text that came from an email (client names, subjects, senders, reasons) is attacker-controlled.
Every event is cleaned here with :mod:`acchub_mailbot.report.safetext` (one line, clipped,
defanged for look-alikes) before any template sees it; sample data for previews is in
:mod:`acchub_mailbot.report.samples`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acchub_mailbot.report.safetext import TEXT_LIMIT, clip, defang, defang_text, header_safe

__all__ = [
    "SECTION_LIMIT",
    "TEXT_LIMIT",
    "TOKEN_WARNING",
    "URL_LIMIT",
    "DigestContent",
    "DigestCounts",
    "DigestEvent",
    "EventKind",
    "HealthLine",
    "HealthStatus",
    "MailboxHealth",
    "RenderedDigest",
    "SendingHealth",
    "TokenState",
    "build_digest",
    "defang",
    "defang_text",
    "header_safe",
    "is_empty",
]

#: A sign-in token expiring sooner than this is flagged, so there is time to renew it.
TOKEN_WARNING = timedelta(days=7)

#: Rejected and quarantined messages beyond this many per section are only counted: a spam wave
#: must not push the digest past the size at which mail clients clip it (Gmail: ~100 kB).
SECTION_LIMIT = 50


#: Longest shown rejected URL: long enough to recognize it, short enough to keep lines readable.
URL_LIMIT = 300


class EventKind(StrEnum):
    """What happened to one invitation email; the strings are stored in the outbox table."""

    REGISTERED = "registered"
    PENDING_VERIFICATION = "pending_verification"
    VERIFICATION_FAILED = "verification_failed"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class DigestEvent:
    """One recorded outcome, as loaded from the outbox table. ``occurred_at`` is tz-aware."""

    id: int
    kind: EventKind
    mailbox: str
    occurred_at: datetime
    client_name: str | None = None
    client_url: str | None = None
    access_link: str | None = None
    add_client_link: str | None = None
    subject: str | None = None
    sender: str | None = None
    message_id: str | None = None
    reasons: tuple[str, ...] = ()
    rejected_url: str | None = None


@dataclass(frozen=True)
class MailboxHealth:
    """The poller's view of one mailbox, so the digest can say whether it is being read."""

    name: str
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    errors_since_success: int = 0
    token_expires_at: datetime | None = None


@dataclass(frozen=True)
class SendingHealth:
    """Mail held back by failed sends: the digest says so, as it may be the first to get out."""

    digests: int
    confirmations: int
    since: datetime | None
    last_error: str | None


class HealthStatus(StrEnum):
    """How a mailbox is doing, in the three states an accountant cares about."""

    OK = "ok"
    FAILING = "failing"
    NEVER_POLLED = "never_polled"


class TokenState(StrEnum):
    """Whether the mailbox's sign-in token needs renewing soon."""

    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"


@dataclass(frozen=True)
class HealthLine:
    """One mailbox's health, with the judgements (failing? token expiring?) already made."""

    name: str
    status: HealthStatus
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    errors_since_success: int
    token_expires_at: datetime | None
    token_state: TokenState | None
    token_expires_in: timedelta | None


@dataclass(frozen=True)
class DigestCounts:
    """How many items each section holds, counted before any section is clipped."""

    registered: int = 0
    pending: int = 0
    needs_review: int = 0
    verification_failed: int = 0
    rejected: int = 0
    quarantined: int = 0
    failing_mailboxes: int = 0

    @property
    def needs_attention(self) -> int:
        """Items a person must look at: unclear emails and clients whose URL failed checks."""
        return self.needs_review + self.verification_failed

    @property
    def events(self) -> int:
        """All events in the digest; zero means there is nothing to report."""
        return (
            self.registered + self.pending + self.needs_attention + self.rejected + self.quarantined
        )


@dataclass(frozen=True)
class DigestContent:
    """Everything the templates show, grouped into sections, in display order (oldest first)."""

    language: str
    timezone: str
    generated_at: datetime
    registered: tuple[DigestEvent, ...]
    pending: tuple[DigestEvent, ...]
    needs_attention: tuple[DigestEvent, ...]
    rejected: tuple[DigestEvent, ...]
    quarantined: tuple[DigestEvent, ...]
    health: tuple[HealthLine, ...]
    counts: DigestCounts
    mailboxes: tuple[str, ...] = ()
    rejected_omitted: int = 0
    quarantined_omitted: int = 0
    #: Digests and replies a failing SMTP sign-in or server held back, when there are any.
    sending: SendingHealth | None = None


@dataclass(frozen=True)
class RenderedDigest:
    """The three parts of the digest email, ready for the sender."""

    subject: str
    text: str
    html: str


def _defang_optional(value: str | None) -> str | None:
    return defang_text(value) if value is not None else None


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _clean(event: DigestEvent) -> DigestEvent:
    """The event with every email-supplied string made one-line and bounded."""
    reasons = tuple(r for r in (clip(reason) for reason in event.reasons) if r)
    rejected = clip(event.rejected_url, URL_LIMIT)
    if event.kind is EventKind.REJECTED:
        # Everything about a look-alike may name its host; none of it may become a link.
        event = replace(
            event,
            client_name=_defang_optional(event.client_name),
            subject=_defang_optional(event.subject),
            sender=_defang_optional(event.sender),
            message_id=_defang_optional(event.message_id),
            client_url=_defang_optional(event.client_url),
            access_link=None,
            add_client_link=None,
        )
        reasons = tuple(defang_text(reason) for reason in reasons)
    return replace(
        event,
        occurred_at=_require_aware(event.occurred_at, f"event {event.id} occurred_at"),
        client_name=clip(event.client_name),
        client_url=clip(event.client_url, URL_LIMIT * 4),
        access_link=clip(event.access_link, URL_LIMIT * 4),
        add_client_link=clip(event.add_client_link, URL_LIMIT * 8),
        subject=clip(event.subject),
        sender=clip(event.sender),
        message_id=clip(event.message_id),
        reasons=reasons,
        rejected_url=defang(rejected) if rejected else None,
    )


def _order(events: Iterable[DigestEvent]) -> tuple[DigestEvent, ...]:
    return tuple(sorted(events, key=lambda e: (e.occurred_at, e.id)))


def _latest_by(events: Iterable[DigestEvent], key_of: str) -> list[DigestEvent]:
    """Keep the latest event per value of attribute ``key_of``; events without one all stay."""
    latest: dict[str, DigestEvent] = {}
    loose: list[DigestEvent] = []
    for event in _order(events):
        key = getattr(event, key_of)
        if key:
            latest[key] = event
        else:
            loose.append(event)
    return [*latest.values(), *loose]


def _health_line(health: MailboxHealth, now: datetime) -> HealthLine:
    expires = health.token_expires_at
    state: TokenState | None = None
    expires_in: timedelta | None = None
    if expires is not None:
        expires = _require_aware(expires, f"mailbox {health.name} token_expires_at")
        expires_in = expires - now
        if expires_in <= timedelta(0):
            state = TokenState.EXPIRED
        elif expires_in <= TOKEN_WARNING:
            state = TokenState.EXPIRING
        else:
            state = TokenState.VALID
    if health.last_poll_at is None:
        status = HealthStatus.NEVER_POLLED
    elif health.errors_since_success > 0:
        status = HealthStatus.FAILING
    else:
        status = HealthStatus.OK
    return HealthLine(
        name=clip(health.name) or "?",
        status=status,
        last_poll_at=(
            _require_aware(health.last_poll_at, f"mailbox {health.name} last_poll_at")
            if health.last_poll_at
            else None
        ),
        last_success_at=(
            _require_aware(health.last_success_at, f"mailbox {health.name} last_success_at")
            if health.last_success_at
            else None
        ),
        # An old error that a later success cleared is history, not news.
        last_error=clip(health.last_error) if status is HealthStatus.FAILING else None,
        errors_since_success=max(health.errors_since_success, 0),
        token_expires_at=expires,
        token_state=state,
        token_expires_in=expires_in,
    )


def build_digest(
    events: Sequence[DigestEvent],
    health: Sequence[MailboxHealth],
    *,
    language: str = "en",
    now: datetime,
    timezone: str = "UTC",
    sending: SendingHealth | None = None,
) -> DigestContent:
    """Group ``events`` into the digest's sections and count them.

    The digest reports the latest news per client, not a log: an event whose id was already seen
    is dropped; a client registered twice appears once (latest access link); a "pending" or
    "verification failed" event is dropped when the same client URL was registered at or after
    it, and only the latest of those two kinds is kept per client URL. Review, rejection and
    quarantine events are de-duplicated by Message-ID, since a retried message records again.
    """
    generated_at = _require_aware(now, "now")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{timezone!r} is not an IANA time zone such as Europe/Paris") from None

    seen: set[int] = set()
    unique: list[DigestEvent] = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            unique.append(_clean(event))

    def of(*kinds: EventKind) -> list[DigestEvent]:
        return [e for e in unique if e.kind in kinds]

    registered = _latest_by(of(EventKind.REGISTERED), "client_url")
    registered_at: dict[str, datetime] = {}
    for event in registered:
        if event.client_url:
            registered_at[event.client_url] = event.occurred_at

    in_progress = [
        e
        for e in _latest_by(
            of(EventKind.PENDING_VERIFICATION, EventKind.VERIFICATION_FAILED), "client_url"
        )
        if not (e.client_url in registered_at and registered_at[e.client_url] >= e.occurred_at)
    ]
    pending = [e for e in in_progress if e.kind is EventKind.PENDING_VERIFICATION]
    failed = [e for e in in_progress if e.kind is EventKind.VERIFICATION_FAILED]
    review = _latest_by(of(EventKind.NEEDS_REVIEW), "message_id")
    rejected = _order(_latest_by(of(EventKind.REJECTED), "message_id"))
    quarantined = _order(_latest_by(of(EventKind.QUARANTINED), "message_id"))

    lines = tuple(sorted((_health_line(h, generated_at) for h in health), key=lambda h: h.name))
    counts = DigestCounts(
        registered=len(registered),
        pending=len(pending),
        needs_review=len(review),
        verification_failed=len(failed),
        rejected=len(rejected),
        quarantined=len(quarantined),
        failing_mailboxes=sum(1 for line in lines if line.status is HealthStatus.FAILING),
    )
    return DigestContent(
        language=language,
        timezone=timezone,
        generated_at=generated_at,
        registered=_order(registered),
        pending=_order(pending),
        needs_attention=_order([*review, *failed]),
        rejected=rejected[:SECTION_LIMIT],
        quarantined=quarantined[:SECTION_LIMIT],
        health=lines,
        counts=counts,
        mailboxes=tuple(sorted({e.mailbox for e in unique})),
        rejected_omitted=max(len(rejected) - SECTION_LIMIT, 0),
        quarantined_omitted=max(len(quarantined) - SECTION_LIMIT, 0),
        sending=_sending(sending),
    )


def _sending(sending: SendingHealth | None) -> SendingHealth | None:
    if sending is None or sending.digests + sending.confirmations == 0:
        return None
    since = _require_aware(sending.since, "sending since") if sending.since else None
    return replace(sending, since=since, last_error=clip(sending.last_error))


def is_empty(content: DigestContent) -> bool:
    """True when no event is reported. Mailbox health alone does not make a digest worth
    sending: a failing mailbox would otherwise trigger a mail on every schedule tick."""
    return content.counts.events == 0
