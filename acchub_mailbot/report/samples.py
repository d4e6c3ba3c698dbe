"""Sample digest data: one event of every kind and two mailboxes, at a fixed moment.

``check-config`` renders the templates with it, ``digest preview`` can show it, and tests use it
to see every section filled; it is kept apart from :mod:`acchub_mailbot.report.digest` because
it is data for previews, not part of what a real digest says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from acchub_mailbot.report.digest import (
    DigestContent,
    DigestEvent,
    EventKind,
    MailboxHealth,
    build_digest,
)

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
