"""The outbox of things to report: events accumulate here until a digest takes them.

An event is assigned to exactly one digest, in the same transaction that creates that digest, so
no event is reported twice and none is lost when sending fails (the digest stays pending).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import Digest, Event, utcnow


def add_event(
    session: Session,
    mailbox: str,
    kind: str,
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
    audience: str = "",
) -> Event:
    """Queue one thing to report; ``audience`` "" is the mailbox's admins, "owner:ADDRESS" one
    accountant (who then gets a digest of their own)."""
    event = Event(
        mailbox=mailbox,
        kind=kind,
        audience=audience,
        payload=dict(payload),
        created_at=now or utcnow(),
    )
    session.add(event)
    return event


def unassigned_events(session: Session, mailbox: str, *, lock: bool = False) -> Sequence[Event]:
    query = (
        select(Event).where(Event.mailbox == mailbox, Event.digest_id.is_(None)).order_by(Event.id)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).all()


def pending_digests(
    session: Session, now: datetime, *, ignore_backoff: bool = False
) -> Sequence[Digest]:
    query = select(Digest).where(Digest.status == "pending").order_by(Digest.id)
    if not ignore_backoff:
        query = query.where((Digest.next_attempt_at.is_(None)) | (Digest.next_attempt_at <= now))
    return session.scalars(query).all()


def count_pending_digests(session: Session) -> int:
    """Digests waiting to be sent (also those being sent now), whether or not their retry time
    has come."""
    query = select(func.count()).select_from(Digest)
    return int(session.scalar(query.where(Digest.status.in_(("pending", "sending")))) or 0)


def assign_events(session: Session, event_ids: Sequence[int], digest_id: int) -> bool:
    """Put unassigned events into a digest; False (and nothing changed that counts) when some
    of them were assigned by another transaction meanwhile."""
    if not event_ids:
        return True
    result = session.execute(
        update(Event)
        .where(Event.id.in_(list(event_ids)), Event.digest_id.is_(None))
        .values(digest_id=digest_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == len(event_ids))  # type: ignore[attr-defined]
