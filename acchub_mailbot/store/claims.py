"""Claims on outgoing mail: each digest and confirmation is sent by exactly one sender.

A row goes ``pending`` -> ``sending`` by one conditional UPDATE that names the claimer and a
deadline; of all the threads of all the instances that try, exactly one matches the row (on
PostgreSQL the losers' UPDATE waits for the winner's commit and then no longer matches; SQLite
serialises writers). The winner sends, then marks the row ``sent``. A claim whose holder died is
taken back after its deadline (or at once when the holder was a process on this host that no
longer exists) and the mail is sent again with the same Message-ID: the only case in which a
recipient may get a second copy.

Any instance may send any mailbox's mail through a claim, rather than only the instance holding
the mailbox: a mailbox changes hands when its holder dies, and the mail prepared before that must
not wait for the new holder's first poll.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import Confirmation, Digest

PENDING = "pending"
SENDING = "sending"
SENT = "sent"

#: How long a claim keeps others away: far longer than one SMTP submission takes.
CLAIM_SECONDS = 300

Outgoing = type[Digest] | type[Confirmation]


def _claimable(
    model: Outgoing, now: datetime, ignore_backoff: bool, dead: Collection[str]
) -> object:
    pending = model.status == PENDING
    if not ignore_backoff:
        pending = and_(pending, or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now))
    abandoned = model.claim_until < now
    if dead:
        abandoned = or_(abandoned, model.claimed_by.in_(list(dead)))
    return or_(pending, and_(model.status == SENDING, abandoned))


def claimable(
    session: Session,
    model: Outgoing,
    now: datetime,
    *,
    ignore_backoff: bool = False,
    dead: Collection[str] = (),
) -> Sequence[int]:
    """IDs that a sender may try to claim now, oldest first."""
    return session.scalars(
        select(model.id)
        .where(_claimable(model, now, ignore_backoff, dead))  # type: ignore[arg-type]
        .order_by(model.id)
    ).all()


def claim(
    session: Session,
    model: Outgoing,
    row_id: int,
    claimer: str,
    now: datetime,
    *,
    ignore_backoff: bool = False,
    dead: Collection[str] = (),
    hold: timedelta = timedelta(seconds=CLAIM_SECONDS),
) -> bool:
    """Try to claim one row; True for exactly one of any number of concurrent claimers."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, _claimable(model, now, ignore_backoff, dead))  # type: ignore[arg-type]
        .values(status=SENDING, claimed_by=claimer, claim_until=now + hold)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _mine(model: Outgoing, row_id: int, claimer: str) -> object:
    return and_(model.id == row_id, model.status == SENDING, model.claimed_by == claimer)


def mark_sent(session: Session, model: Outgoing, row_id: int, claimer: str, now: datetime) -> bool:
    """Record the send; False when the claim had already been taken back by another sender."""
    result = session.execute(
        update(model)
        .where(_mine(model, row_id, claimer))  # type: ignore[arg-type]
        .values(
            status=SENT,
            sent_at=now,
            attempts=model.attempts + 1,
            last_error=None,
            claimed_by=None,
            claim_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_failed(
    session: Session,
    model: Outgoing,
    row_id: int,
    claimer: str,
    error: str,
    retry_at: datetime,
) -> None:
    """Give the claim back: pending again, tried after ``retry_at``, with the error kept."""
    session.execute(
        update(model)
        .where(_mine(model, row_id, claimer))  # type: ignore[arg-type]
        .values(
            status=PENDING,
            attempts=model.attempts + 1,
            last_error=error,
            next_attempt_at=retry_at,
            claimed_by=None,
            claim_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def claimers(session: Session, model: Outgoing) -> set[str]:
    """Who holds the rows now in ``sending``."""
    rows = session.scalars(
        select(model.claimed_by).where(model.status == SENDING, model.claimed_by.is_not(None))
    ).all()
    return {r for r in rows if r}


@dataclass(frozen=True)
class HeldBack:
    """Outgoing mail whose last send failed and that waits for a retry."""

    digests: int
    confirmations: int
    #: When the oldest of them was queued.
    since: datetime | None
    #: The error of the latest failed attempt.
    last_error: str | None


def held_back(session: Session) -> HeldBack:
    """What a sending failure holds back now: ``status`` and the next digest report it, so a
    person learns that mail is stuck even when it is that mail which cannot go out."""
    counts: dict[str, int] = {}
    since: datetime | None = None
    errors: list[str] = []
    for model in (Digest, Confirmation):
        failed = and_(model.status.in_((PENDING, SENDING)), model.last_error.is_not(None))
        count, oldest = session.execute(
            select(func.count(), func.min(model.created_at)).where(failed)
        ).one()
        counts[model.__tablename__] = int(count or 0)
        if oldest is not None and (since is None or oldest < since):
            since = oldest
        latest = session.scalar(
            select(model.last_error)
            .where(failed)
            .order_by(model.next_attempt_at.desc(), model.id.desc())
            .limit(1)
        )
        if latest:
            errors.append(latest)
    return HeldBack(
        digests=counts["digests"],
        confirmations=counts["confirmations"],
        since=since,
        last_error=errors[0] if errors else None,
    )
