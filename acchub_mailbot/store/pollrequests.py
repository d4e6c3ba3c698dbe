""" "Poll now" requests in the database: written by the dashboard, read by the heartbeat of the
instance holding the mailbox, deleted by the full poll that answers them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import PollRequest, utcnow


def request(session: Session, mailbox: str, by: str, now: datetime | None = None) -> bool:
    """Ask for a poll; False when one is already waiting (its time is kept: it is older)."""
    if session.get(PollRequest, mailbox) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(PollRequest(mailbox=mailbox, requested_at=now or utcnow(), requested_by=by))
    except IntegrityError:  # another request landed at the same moment
        return False
    return True


def waiting(session: Session) -> dict[str, PollRequest]:
    """The waiting requests by mailbox."""
    return {row.mailbox: row for row in session.scalars(select(PollRequest))}


def answered(session: Session, mailbox: str, started: datetime) -> None:
    """A full poll that started at ``started`` answers every request made before it."""
    session.execute(
        delete(PollRequest).where(
            PollRequest.mailbox == mailbox, PollRequest.requested_at <= started
        )
    )
