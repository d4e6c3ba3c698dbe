"""Queries over the processed-message ledger that the operator's commands need.

The poller writes the ledger (one row per message it saw, keyed by mailbox, folder, UIDVALIDITY
and UID); these read it for ``status`` and ``failed``, put failed messages back for a retry, and
record messages replayed from saved files under the pseudo-folder ``(replay)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import ProcessedMessage

#: The states ``failed list`` shows: still to retry, given up on, or put back by a person.
FAILED_STATES = ("failed", "quarantined", "retry_requested")
#: The folder name replayed messages are recorded under; no IMAP folder can have it.
REPLAY_FOLDER = "(replay)"


def state_counts(session: Session, mailbox: str) -> dict[str, int]:
    """How many of the mailbox's messages are in each state."""
    rows = session.execute(
        select(ProcessedMessage.state, func.count())
        .where(ProcessedMessage.mailbox == mailbox)
        .group_by(ProcessedMessage.state)
    ).all()
    return {state: count for state, count in rows}


def failed_messages(session: Session) -> Sequence[ProcessedMessage]:
    return session.scalars(
        select(ProcessedMessage)
        .where(ProcessedMessage.state.in_(FAILED_STATES))
        .order_by(ProcessedMessage.id)
    ).all()


def request_retry(session: Session, ids: Sequence[int] | None) -> int:
    """Put failed or quarantined messages back for the next poll (all when ``ids`` is None)."""
    query = select(ProcessedMessage).where(ProcessedMessage.state.in_(("failed", "quarantined")))
    if ids is not None:
        query = query.where(ProcessedMessage.id.in_(list(ids)))
    count = 0
    for row in session.scalars(query).all():
        if row.state == "quarantined" and row.action_done:
            # It sits in the quarantine folder: the next poll moves it back as new mail.
            row.state = "retry_requested"
        else:
            row.state = "failed"
            row.action_done = False
        row.attempts = 0
        row.next_attempt_at = None
        count += 1
    return count


def new_replay_row(session: Session, mailbox: str, key: int) -> ProcessedMessage | None:
    """The ledger row of a replayed message, or None when the same content was replayed before."""
    existing = session.scalar(
        select(ProcessedMessage).where(
            ProcessedMessage.mailbox == mailbox,
            ProcessedMessage.folder == REPLAY_FOLDER,
            ProcessedMessage.uidvalidity == 0,
            ProcessedMessage.uid == key,
        )
    )
    if existing is not None:
        return None
    row = ProcessedMessage(
        mailbox=mailbox,
        folder=REPLAY_FOLDER,
        uidvalidity=0,
        uid=key,
        state="seen",
        attempts=0,
        reasons={},
        action_done=True,
    )
    session.add(row)
    session.flush()
    return row


#: Verdicts a person should look at in Needs attention.
REVIEW_VERDICTS = ("needs_review", "rejected")


def awaiting_review(
    session: Session, *, sender: str | None = None, limit: int = 200
) -> list[ProcessedMessage]:
    """Decided messages a person should look at and has not yet decided on, newest first.

    The decision lives in ``reasons["review"]``; JSON is not filtered portably in SQL, so the
    rows are read in batches until ``limit`` undecided ones are found.
    """
    query = select(ProcessedMessage).where(
        ProcessedMessage.verdict.in_(REVIEW_VERDICTS), ProcessedMessage.duplicate_of.is_(None)
    )
    if sender is not None:
        query = query.where(func.lower(ProcessedMessage.sender) == sender)
    found: list[ProcessedMessage] = []
    offset = 0
    while len(found) < limit:
        batch = session.scalars(
            query.order_by(ProcessedMessage.id.desc()).limit(500).offset(offset)
        ).all()
        if not batch:
            break
        found.extend(r for r in batch if not (r.reasons or {}).get("review"))
        offset += len(batch)
    return found[:limit]
