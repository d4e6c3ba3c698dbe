"""poll_mailbox: fetch what is new, handle each message in its own transaction, then mark it.

The order is what makes restarts safe:

1. A message gets a row keyed by (mailbox, folder, UIDVALIDITY, UID) and its outcome is committed
   together with the registration and the digest events, and the mailbox's last UID.
2. Only then is the server-side action carried out, and the row marked ``done``.
3. A message whose processing raises is rolled back, counted, retried on later polls with
   backoff, and after ``poll.max_attempts`` put in quarantine for a person; the poll goes on.

A crash between 1 and 2 leaves ``action_done`` false, and the next poll redoes the action.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.config import MailboxSettings, ServerAction, Settings
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.handlers.base import Handler
from acchub_mailbot.inbox import NETWORK_ERRORS, FetchedMessage, Inbox
from acchub_mailbot.logs import quoted
from acchub_mailbot.pipeline import MailboxRules, apply_message
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.leases import Held, LeaseLost, fence
from acchub_mailbot.store.models import MailboxState, ProcessedMessage, utcnow

log = logging.getLogger(__name__)


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

    def count(self, verdict: str) -> None:
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1


def backoff(attempts: int, base_seconds: float, cap_seconds: float = 6 * 3600) -> timedelta:
    """Exponential backoff: base, 2*base, 4*base, ... capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1))))


@dataclass(frozen=True)
class Fencing:
    """The lease this poll runs under; every write checks it is still ours."""

    held: Held | None
    ttl: timedelta

    def check(self, session: Session) -> None:
        if self.held is not None:
            fence(session, self.held, self.ttl)


NO_FENCING = Fencing(None, timedelta(0))


def _state(session: Session, mailbox: MailboxSettings) -> MailboxState:
    state = session.get(MailboxState, mailbox.name)
    if state is None:
        state = MailboxState(name=mailbox.name, folder=mailbox.imap.folder, last_uid=0)
        session.add(state)
        session.flush()
    return state


def _row_for(
    session: Session, mailbox: MailboxSettings, uidvalidity: int, uid: int
) -> ProcessedMessage:
    row = session.scalar(
        select(ProcessedMessage).where(
            ProcessedMessage.mailbox == mailbox.name,
            ProcessedMessage.folder == mailbox.imap.folder,
            ProcessedMessage.uidvalidity == uidvalidity,
            ProcessedMessage.uid == uid,
        )
    )
    if row is None:
        row = ProcessedMessage(
            mailbox=mailbox.name,
            folder=mailbox.imap.folder,
            uidvalidity=uidvalidity,
            uid=uid,
            state="seen",
            attempts=0,
            reasons={},
        )
        session.add(row)
        session.flush()
    return row


def _retry_uids(
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


def _pending_actions(
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


def _process_one(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    uidvalidity: int,
    fetched: FetchedMessage,
    report: PollReport,
    handlers: Sequence[Handler] | None,
    fencing: Fencing,
) -> None:
    now = utcnow()
    try:
        with sessions.begin() as session:
            fencing.check(session)
            row = _row_for(session, mailbox, uidvalidity, fetched.uid)
            if row.state in ("decided", "done", "quarantined"):
                return
            applied = apply_message(
                session,
                row,
                fetched.raw,
                live_check=settings.verification.live_check,
                now=now,
                handlers=handlers,
                rules=MailboxRules.of(settings, mailbox),
                limits=settings.limits.to_limits(),
            )
            state = _state(session, mailbox)
            state.last_uid = max(state.last_uid or 0, fetched.uid)
        failpoints.hit("after-commit")
        report.count(applied.verdict)
        if applied.created:
            report.registered += 1
        log.info(
            "mailbox=%s uid=%d message_id=%s verdict=%s%s%s",
            mailbox.name,
            fetched.uid,
            quoted(row.message_id),
            applied.verdict,
            f" client_id={applied.client_id}" if applied.client_id else "",
            " duplicate" if applied.duplicate else "",
        )
    except LeaseLost:
        raise
    except Exception as exc:  # one bad message must never stop the poll
        _record_failure(sessions, settings, mailbox, uidvalidity, fetched, exc, report, fencing)


def _record_failure(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    uidvalidity: int,
    fetched: FetchedMessage,
    exc: BaseException,
    report: PollReport,
    fencing: Fencing,
) -> None:
    now = utcnow()
    error = f"{type(exc).__name__}: {str(exc)[:500]}"
    with sessions.begin() as session:
        fencing.check(session)
        row = _row_for(session, mailbox, uidvalidity, fetched.uid)
        if row.message_id is None:
            row.message_id, row.subject, row.sender = _headers_only(fetched.raw)
        row.attempts = (row.attempts or 0) + 1
        row.last_error = error
        state = _state(session, mailbox)
        state.last_uid = max(state.last_uid or 0, fetched.uid)
        if row.attempts >= settings.poll.max_attempts:
            row.state = "quarantined"
            row.next_attempt_at = None
            add_event(
                session,
                mailbox.name,
                "quarantined",
                {
                    "subject": row.subject,
                    "sender": row.sender,
                    "message_id": row.message_id,
                    "reasons": [error],
                },
                now=now,
            )
            report.quarantined += 1
            log.error(
                "mailbox=%s uid=%d quarantined after %d attempts: %s",
                mailbox.name,
                fetched.uid,
                row.attempts,
                quoted(error),
            )
        else:
            row.state = "failed"
            row.next_attempt_at = now + backoff(row.attempts, settings.poll.retry_base)
            report.failed += 1
            log.warning(
                "mailbox=%s uid=%d failed (attempt %d of %d, retried later): %s",
                mailbox.name,
                fetched.uid,
                row.attempts,
                settings.poll.max_attempts,
                quoted(error),
            )


def _headers_only(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """Message-ID, subject and sender, read without the body: what a person needs to find a
    message that could not be processed (and what moves it back out of quarantine)."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw[:65536])
        return (
            (str(headers.get("Message-ID") or "").strip()[:998] or None),
            (str(headers.get("Subject") or "")[:2000] or None),
            (str(headers.get("From") or "")[:320] or None),
        )
    except Exception:  # the headers themselves may be what is broken
        return None, None, None


def _carry_out_actions(
    sessions: sessionmaker[Session],
    inbox: Inbox,
    mailbox: MailboxSettings,
    uidvalidity: int,
    report: PollReport,
    fencing: Fencing,
) -> None:
    """Mark handled messages; move quarantined ones to the quarantine folder."""
    uids = _pending_actions(sessions, mailbox, uidvalidity)
    if not uids:
        return
    present = inbox.existing(uids)
    quarantine = ServerAction(type="move", folder=mailbox.quarantine_folder)
    for uid in uids:
        with sessions.begin() as session:
            fencing.check(session)
            row = _row_for(session, mailbox, uidvalidity, uid)
            action = quarantine if row.state == "quarantined" else mailbox.action
            if uid in present:
                inbox.apply_action(uid, action)
                report.actions += 1
            failpoints.hit("after-action")
            row.action_done = True
            if row.state == "decided":
                row.state = "done"


def _release_retries(
    sessions: sessionmaker[Session],
    inbox: Inbox,
    mailbox: MailboxSettings,
    report: PollReport,
    fencing: Fencing,
) -> None:
    """Put messages a person asked to retry back into the folder, where they are new mail."""
    with sessions() as session:
        rows = list(
            session.scalars(
                select(ProcessedMessage).where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.state == "retry_requested",
                )
            ).all()
        )
    if not rows:
        return
    for row in rows:
        moved = inbox.move_back(mailbox.quarantine_folder, mailbox.imap.folder, row.message_id)
        with sessions.begin() as session:
            fencing.check(session)
            current = session.get(ProcessedMessage, row.id)
            if current is not None:
                current.state = "released"
        report.released += moved
        log.info(
            "mailbox=%s message_id=%s put back into %s for another try",
            mailbox.name,
            quoted(row.message_id),
            mailbox.imap.folder,
        )


def poll_mailbox(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    *,
    handlers: Sequence[Handler] | None = None,
    stop: threading.Event | None = None,
    fencing: Fencing = NO_FENCING,
) -> PollReport:
    """One idempotent poll of one mailbox. Raises :class:`MailboxUnavailable` on IMAP faults."""
    started = time.monotonic()
    report = PollReport(mailbox.name)
    with sessions.begin() as session:
        fencing.check(session)
        state = _state(session, mailbox)
        state.last_poll_at = utcnow()
        known_validity, last_uid = state.uidvalidity, state.last_uid or 0
    try:
        with Inbox(mailbox.imap, mailbox=mailbox.name) as inbox:
            status = inbox.select()
            if known_validity is not None and known_validity != status.uidvalidity:
                # The folder was recreated: every UID is new. Rows are keyed by UIDVALIDITY and
                # invitations de-duplicated by Message-ID and client URL, so a rescan neither
                # skips mail nor reports it twice.
                log.warning(
                    "mailbox=%s UIDVALIDITY changed from %s to %s: rescanning the folder",
                    mailbox.name,
                    known_validity,
                    status.uidvalidity,
                )
                report.uidvalidity_changed = True
                last_uid = 0
            with sessions.begin() as session:
                fencing.check(session)
                state = _state(session, mailbox)
                if state.uidvalidity != status.uidvalidity:
                    state.uidvalidity = status.uidvalidity
                    state.last_uid = last_uid
            _release_retries(sessions, inbox, mailbox, report, fencing)
            new = inbox.uids_after(last_uid)
            retry = _retry_uids(sessions, mailbox, status.uidvalidity, utcnow())
            todo = sorted(set(new) | set(retry))
            for fetched in inbox.fetch(todo):
                if stop is not None and stop.is_set():
                    break  # shutting down: the rest is picked up by the next start
                report.fetched += 1
                failpoints.hit("fetched")
                _process_one(
                    sessions,
                    settings,
                    mailbox,
                    status.uidvalidity,
                    fetched,
                    report,
                    handlers,
                    fencing,
                )
            _carry_out_actions(sessions, inbox, mailbox, status.uidvalidity, report, fencing)
    except MailboxUnavailable as exc:
        _record_poll_error(sessions, mailbox, str(exc))
        report.error = str(exc)
        raise
    except NETWORK_ERRORS as exc:
        message = f"mailbox {mailbox.name}: connection lost ({type(exc).__name__}: {exc})"
        _record_poll_error(sessions, mailbox, message)
        report.error = message
        raise MailboxUnavailable(message) from None
    with sessions.begin() as session:
        fencing.check(session)
        state = _state(session, mailbox)
        state.last_success_at = utcnow()
        if state.errors_since_success:
            log.info(
                "mailbox=%s recovered after %d failed polls",
                mailbox.name,
                state.errors_since_success,
            )
        state.errors_since_success = 0
        state.last_error = None
    report.seconds = time.monotonic() - started
    return report


def _record_poll_error(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, error: str
) -> None:
    with sessions.begin() as session:
        state = _state(session, mailbox)
        state.last_error = error[:2000]
        state.errors_since_success = (state.errors_since_success or 0) + 1
