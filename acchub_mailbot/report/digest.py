"""What the digest email says: events grouped into sections, counted, and made safe to show.

The pipeline records one event per outcome (a client registered, a look-alike rejected, ...).
When a digest is due, the shell loads the events and the mailbox health for one recipient and
calls :func:`build_digest`; :mod:`acchub_mailbot.report.templating` turns the result into a
subject, a text part and an HTML part. Everything here is pure: no clock, no database, no Jinja.

Text that came from an email (client names, subjects, senders, reasons) is attacker-controlled.
It is put on one line and clipped here, so a name cannot forge extra lines in the text part or
headers in the subject; HTML escaping is left to the template engine's autoescaping.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: A sign-in token expiring sooner than this is flagged, so there is time to renew it.
TOKEN_WARNING = timedelta(days=7)

#: Rejected and quarantined messages beyond this many per section are only counted: a spam wave
#: must not push the digest past the size at which mail clients clip it (Gmail: ~100 kB).
SECTION_LIMIT = 50

#: Longest shown value of a name, subject, sender or reason; the rest is replaced by an ellipsis.
TEXT_LIMIT = 200

#: Longest shown rejected URL: long enough to recognize it, short enough to keep lines readable.
URL_LIMIT = 300

# Characters that change how text is displayed without being visible: bidirectional overrides
# (which can make "moc.evil" read as "live.com") and zero-width characters used to dodge filters.
_INVISIBLE = frozenset(
    "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029\t")
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*):(//|\\\\)")
_BARE_DOT = re.compile(r"(?<!\[)\.(?!\])")
# A URL, or a host name such as "login-check.example", inside free text.
_LINKISH = re.compile(
    r"(?i)\b[a-z][a-z0-9+.\-]*:(?://|\\\\)\S+"
    r"|\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z][a-z0-9\-]*[a-z0-9]\b\S*"
)


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


@dataclass(frozen=True)
class RenderedDigest:
    """The three parts of the digest email, ready for the sender."""

    subject: str
    text: str
    html: str


def header_safe(value: str) -> str:
    """Put ``value`` on one line: line breaks and tabs become spaces, control and invisible
    characters go, runs of whitespace collapse. Used for the subject (no header injection) and for
    every email-supplied string shown in the digest (no forged lines, no bidi tricks)."""
    kept: list[str] = []
    for char in value:
        if char in _LINE_BREAKS:
            kept.append(" ")
        elif char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cs"):
            continue
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def defang(url: str) -> str:
    """Make a URL readable but never clickable: ``https://evil.example/x`` becomes
    ``hxxps://evil[.]example/x``. Every scheme and every dot is neutralised, including those of
    URLs hidden in the query string, because mail clients turn anything URL-like into a link.
    Applying it twice changes nothing more."""
    text = header_safe(url)

    def _scheme(match: re.Match[str]) -> str:
        scheme = match.group(1)
        if scheme.lower() in ("hxxp", "hxxps"):
            return f"{scheme}://"
        if scheme.lower() in ("http", "https"):
            xx = "".join("X" if char.isupper() else "x" for char in scheme[1:3])
            return f"{scheme[0]}{xx}{scheme[3:]}://"
        return f"{scheme}[:]//"

    text = _SCHEME.sub(_scheme, text)
    return _BARE_DOT.sub("[.]", text)


def defang_text(text: str) -> str:
    """Defang every URL and host name inside free text (a rejection reason, a subject), so that
    no part of a look-alike's report can be clicked in a mail client that links bare domains."""
    return _LINKISH.sub(lambda match: defang(match.group(0)), header_safe(text))


def _clip(value: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """One line, at most ``limit`` characters; ``None`` and blank stay ``None``."""
    if value is None:
        return None
    text = header_safe(value)
    if not text:
        return None
    if len(text) > limit:
        return text[: limit - 1].rstrip() + "…"
    return text


def _defang_optional(value: str | None) -> str | None:
    return defang_text(value) if value is not None else None


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _clean(event: DigestEvent) -> DigestEvent:
    """The event with every email-supplied string made one-line and bounded."""
    reasons = tuple(r for r in (_clip(reason) for reason in event.reasons) if r)
    rejected = _clip(event.rejected_url, URL_LIMIT)
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
        client_name=_clip(event.client_name),
        client_url=_clip(event.client_url, URL_LIMIT * 4),
        access_link=_clip(event.access_link, URL_LIMIT * 4),
        add_client_link=_clip(event.add_client_link, URL_LIMIT * 8),
        subject=_clip(event.subject),
        sender=_clip(event.sender),
        message_id=_clip(event.message_id),
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
        name=_clip(health.name) or "?",
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
        last_error=_clip(health.last_error) if status is HealthStatus.FAILING else None,
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
    )


def is_empty(content: DigestContent) -> bool:
    """True when no event is reported. Mailbox health alone does not make a digest worth
    sending: a failing mailbox would otherwise trigger a mail on every schedule tick."""
    return content.counts.events == 0


#: The fixed moment of the sample digest, so previews and tests are reproducible.
SAMPLE_NOW = datetime(2025, 1, 15, 8, 30, tzinfo=UTC)


def sample_events() -> tuple[DigestEvent, ...]:
    """One event of every kind, with realistic values, for previews and template checks."""
    at = SAMPLE_NOW
    subject = "You have been invited to Dynamics 365 Business Central"
    return (
        DigestEvent(
            id=1,
            kind=EventKind.REGISTERED,
            mailbox="accounting",
            occurred_at=at - timedelta(hours=5),
            client_name="Contoso Ltd",
            client_url="https://businesscentral.dynamics.com/contoso.onmicrosoft.com",
            access_link=(
                "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"
                "?redirectedfromsignup=1"
            ),
            add_client_link=(
                "https://accountants.dynamics.com/?page=21&mode=Edit&filter=%27Client%20Link%27"
                "%20IS%20%27https%3A%2F%2Fbusinesscentral.dynamics.com%2Fcontoso.onmicrosoft.com"
                "%27%20AND%20%27Customer.Name%27%20IS%20%27Contoso%20Ltd%27"
            ),
            subject=subject,
            sender="admin@contoso.example",
            message_id="<inv-1@contoso.example>",
        ),
        DigestEvent(
            id=2,
            kind=EventKind.REGISTERED,
            mailbox="accounting",
            occurred_at=at - timedelta(hours=2),
            client_name="Fabrikam SARL",
            client_url="https://businesscentral.dynamics.com/5b0c9a2e-3f6d-4c1a-9e8b-7d2f1a6c4e90",
            access_link=(
                "https://businesscentral.dynamics.com/5b0c9a2e-3f6d-4c1a-9e8b-7d2f1a6c4e90"
                "?redirectedfromsignup=1"
            ),
            subject=f"TR: {subject}",
            sender="compta@fabrikam.example",
            message_id="<inv-2@fabrikam.example>",
        ),
        DigestEvent(
            id=3,
            kind=EventKind.PENDING_VERIFICATION,
            mailbox="accounting",
            occurred_at=at - timedelta(hours=1),
            client_name="Northwind Traders",
            client_url="https://businesscentral.dynamics.com/northwind.onmicrosoft.com",
            access_link=(
                "https://businesscentral.dynamics.com/northwind.onmicrosoft.com"
                "?redirectedfromsignup=1"
            ),
            subject=subject,
            sender="it@northwind.example",
            reasons=("Business Central did not answer in time; the check will be retried",),
        ),
        DigestEvent(
            id=4,
            kind=EventKind.NEEDS_REVIEW,
            mailbox="accounting",
            occurred_at=at - timedelta(minutes=50),
            subject=f"Fwd: {subject}",
            sender="partner@wingtip.example",
            message_id="<fwd-4@wingtip.example>",
            reasons=("the link was rewritten by Mimecast and no readable copy was found",),
        ),
        DigestEvent(
            id=5,
            kind=EventKind.VERIFICATION_FAILED,
            mailbox="accounting",
            occurred_at=at - timedelta(minutes=40),
            client_name="Tailspin Toys",
            client_url="https://businesscentral.dynamics.com/tailspin.onmicrosoft.com",
            subject=subject,
            sender="owner@tailspin.example",
            reasons=("Business Central answered that this tenant does not exist",),
        ),
        DigestEvent(
            id=6,
            kind=EventKind.REJECTED,
            mailbox="accounting",
            occurred_at=at - timedelta(minutes=30),
            client_name="Contoso Ltd",
            subject=subject,
            sender="billing@contoso-payments.example",
            message_id="<lookalike-6@contoso-payments.example>",
            rejected_url="https://businesscentral.dynamics.com.login-check.example/contoso",
            reasons=(
                "look-alike host businesscentral.dynamics.com.login-check.example: "
                "a legitimate name is used as part of a foreign domain",
            ),
        ),
        DigestEvent(
            id=7,
            kind=EventKind.QUARANTINED,
            mailbox="accounting",
            occurred_at=at - timedelta(minutes=10),
            subject=subject,
            sender="admin@adventure-works.example",
            message_id="<broken-7@adventure-works.example>",
            reasons=("the message could not be decoded (invalid base64 in the HTML part)",),
        ),
    )


def sample_health() -> tuple[MailboxHealth, ...]:
    """Two mailboxes: one healthy with a token about to expire, one failing."""
    return (
        MailboxHealth(
            name="accounting",
            last_poll_at=SAMPLE_NOW - timedelta(minutes=1),
            last_success_at=SAMPLE_NOW - timedelta(minutes=1),
            last_error=None,
            token_expires_at=SAMPLE_NOW + timedelta(days=5),
        ),
        MailboxHealth(
            name="office",
            last_poll_at=SAMPLE_NOW - timedelta(minutes=2),
            last_success_at=SAMPLE_NOW - timedelta(hours=3),
            last_error="IMAP login failed: [AUTHENTICATIONFAILED] Authentication failed.",
            errors_since_success=3,
        ),
    )


def sample_digest_content(language: str = "en", *, timezone: str = "UTC") -> DigestContent:
    """A digest with every section filled, for ``check-config`` and ``digest preview``."""
    return build_digest(
        sample_events(), sample_health(), language=language, now=SAMPLE_NOW, timezone=timezone
    )
