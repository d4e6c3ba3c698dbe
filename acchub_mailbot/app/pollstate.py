"""What a poll keeps track of around the messages it decides.

The mailbox's row (its UIDVALIDITY, last UID and health), the tally of one poll, the lease every
write is fenced by, and the queries that say which stored messages still need work. The poll
(:mod:`acchub_mailbot.app.poll`) and the deciding of messages (:mod:`acchub_mailbot.app.decide`)
both keep this bookkeeping; it lives here so that neither owns it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.config import MailboxSettings
from acchub_mailbot.store.leases import Held, fence
from acchub_mailbot.store.models import MailboxState, ProcessedMessage, utcnow


@dataclass
class PollReport:
    """What one poll of one mailbox did."""

    mailbox: str
    fetched: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    registered: int = 0
    failed: int = 0
    quarantined: int = 0
    actions: int = 0
    uidvalidity_changed: bool = False
    released: int = 0
    skipped: str | None = None
    seconds: float = 0.0
    error: str | None = None
    #: Answered from an unchanged STATUS alone: nothing new, nothing written.
    quiet: bool = False

    def count(self, verdict: str) -> None:
        self.count_many(verdict, 1)

    def count_many(self, verdict: str, n: int) -> None:
        if n:
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + n


@dataclass(frozen=True)
class Fencing:
    """The lease this poll runs under; every write checks it is still ours."""

    held: Held | None
    ttl: timedelta

    def check(self, session: Session) -> None:
        if self.held is not None:
            fence(session, self.held, self.ttl)


NO_FENCING = Fencing(None, timedelta(0))


def mailbox_state(session: Session, mailbox: MailboxSettings) -> MailboxState:
    """The mailbox's row, created on its first poll."""
    state = session.get(MailboxState, mailbox.name)
    if state is None:
        state = MailboxState(name=mailbox.name, folder=mailbox.imap.folder, last_uid=0)
        session.add(state)
        session.flush()
    return state


def advance_last_uid(session: Session, mailbox: MailboxSettings, uid: int) -> None:
    """Move the mailbox's high-water mark up to ``uid`` (never down), in the caller's
    transaction."""
    state = mailbox_state(session, mailbox)
    state.last_uid = max(state.last_uid or 0, uid)


def retry_uids(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, uidvalidity: int, now: datetime
) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ProcessedMessage.uid).where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.state.in_(("seen", "failed")),
                    (ProcessedMessage.next_attempt_at.is_(None))
                    | (ProcessedMessage.next_attempt_at <= now),
                )
            ).all()
        )


def next_work_at(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, uidvalidity: int | None
) -> datetime | None:
    """When this mailbox next has work that new mail would not announce: a failed message's
    retry, a server action still to do, or a quarantined message to put back."""
    with sessions() as session:
        base = select(ProcessedMessage).where(
            ProcessedMessage.mailbox == mailbox.name,
            ProcessedMessage.folder == mailbox.imap.folder,
        )
        urgent = session.scalar(
            base.where(
                (ProcessedMessage.state.in_(("seen", "retry_requested")))
                | (
                    ProcessedMessage.state.in_(("decided", "quarantined"))
                    & ProcessedMessage.action_done.is_(False)
                )
            )
            .with_only_columns(ProcessedMessage.id)
            .limit(1)
        )
        if urgent is not None:
            return utcnow()
        due: datetime | None = session.scalar(
            select(func.min(ProcessedMessage.next_attempt_at)).where(
                ProcessedMessage.mailbox == mailbox.name,
                ProcessedMessage.state == "failed",
            )
        )
        return due


def pending_actions(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, uidvalidity: int
) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(ProcessedMessage.uid).where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.state.in_(("decided", "quarantined")),
                    ProcessedMessage.action_done.is_(False),
                )
            ).all()
        )


def touch_success(session: Session, mailbox: MailboxSettings) -> None:
    """A poll that found nothing new still counts as a successful poll for health checks."""
    state = mailbox_state(session, mailbox)
    now = utcnow()
    state.last_poll_at = now
    state.last_success_at = now
    state.errors_since_success = 0
    state.last_error = None


def touch_success_many(session: Session, names: Collection[str], now: datetime) -> None:
    """:func:`touch_success` for mailboxes polled quietly, in one statement. A mailbox whose
    poll failed after its quiet one keeps its error: the failure is the newer news."""
    if names:
        session.execute(
            update(MailboxState)
            .where(MailboxState.name.in_(list(names)), MailboxState.errors_since_success == 0)
            .values(last_poll_at=now, last_success_at=now)
        )


def record_poll_error(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, error: str
) -> None:
    with sessions.begin() as session:
        state = mailbox_state(session, mailbox)
        state.last_error = error[:2000]
        state.errors_since_success = (state.errors_since_success or 0) + 1
