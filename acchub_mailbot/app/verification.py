"""*Test client URL* in the pipeline: run the live check for clients waiting for it, and write
what it found on the client card and as digest news.

A verified URL registers a pending client; a failed one sends it to review; an unreachable one
is retried with backoff and goes to review when the attempts run out.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.app.backoff import backoff
from acchub_mailbot.app.pipeline import clients_due_for_verification
from acchub_mailbot.config import Settings
from acchub_mailbot.store import owners, registry
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.models import Client, utcnow
from acchub_mailbot.verify.urlcheck import LiveChecker, Outcome, VerificationResult


def verify_pending(
    sessions: sessionmaker[Session], settings: Settings, checker: LiveChecker, limit: int = 50
) -> int:
    """Check the clients whose test is due; returns how many were checked."""
    now = utcnow()
    with sessions() as session:
        due = [
            (c.id, c.client_url)
            for c in (
                session.get(Client, cid)
                for cid in clients_due_for_verification(session, now, limit)
            )
            if c is not None
        ]
    for client_id, url in due:
        record_verification(sessions, settings, client_id, checker.check(url), "pipeline")
    return len(due)


def record_verification(
    sessions: sessionmaker[Session],
    settings: Settings,
    client_id: int,
    result: VerificationResult,
    actor: str,
) -> None:
    """Record one test result; a client deleted meanwhile is ignored."""
    v = settings.verification
    with sessions.begin() as session:
        client = session.get(Client, client_id)
        if client is None:
            return
        attempts = (client.verification_attempts or 0) + 1
        next_at = None
        if result.outcome is Outcome.UNREACHABLE and attempts < v.retry_max_attempts:
            next_at = result.checked_at + backoff(attempts, v.retry_base_seconds)
        registry.record_verification(
            session,
            client,
            outcome=result.outcome.value,
            reason=result.reason,
            at=result.checked_at,
            next_attempt_at=next_at,
            actor=actor,
        )
        payload = {
            "client_name": client.name,
            "client_url": client.client_url,
            "access_link": client.access_link,
            "add_client_link": client.add_client_link,
            "message_id": client.source_message_id,
            "reasons": [result.reason] if result.reason else [],
        }
        mailbox = client.mailbox or "manual"
        audiences = [""]
        configured = [m for m in settings.mailboxes if m.name == mailbox]
        if configured and configured[0].digest_to_forwarders:
            audiences = [f"owner:{o}" for o in owners.owners_of(session, client.id)]
            if configured[0].admin_recipients:
                audiences.insert(0, "")
        was_pending = client.status == "pending_verification"
        if result.outcome is Outcome.VERIFIED:
            if was_pending:
                registry.set_status(session, client, "registered", actor=actor)
                for audience in audiences:
                    add_event(session, mailbox, "registered", payload, audience=audience)
        elif result.outcome is Outcome.FAILED:
            if was_pending:
                registry.set_status(
                    session, client, "needs_review", actor=actor, reason=result.reason
                )
                for audience in audiences:
                    add_event(session, mailbox, "verification_failed", payload, audience=audience)
        elif was_pending and next_at is None:
            registry.set_status(
                session,
                client,
                "needs_review",
                actor=actor,
                reason=f"still unreachable after {attempts} attempts: {result.reason}",
            )
            for audience in audiences:
                add_event(session, mailbox, "verification_failed", payload, audience=audience)
