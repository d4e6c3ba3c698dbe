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

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.app.pipeline import Applied, MailboxRules, apply_message
from acchub_mailbot.config import MailboxSettings, ServerAction, Settings
from acchub_mailbot.core.messages import header_summary
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.handlers.base import Handler
from acchub_mailbot.logs import quoted
from acchub_mailbot.mail.inbox import NETWORK_ERRORS, FetchedMessage, Inbox
from acchub_mailbot.mail.sifting import INLINE, Sifter
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.leases import Held, LeaseLost, fence
from acchub_mailbot.store.models import MailboxState, ProcessedMessage, utcnow

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.poller")


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
        self.count_many(verdict, 1)

    def count_many(self, verdict: str, n: int) -> None:
        if n:
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + n


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
#: States of a message that is finished with: never decided again.
FINAL_STATES = ("decided", "done", "quarantined")


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
        row = _new_row(mailbox, uidvalidity, uid)
        session.add(row)
        session.flush()
    return row


def _advance_last_uid(session: Session, mailbox: MailboxSettings, uid: int) -> None:
    """Move the mailbox's high-water mark up to ``uid`` (never down), in the caller's
    transaction."""
    state = _state(session, mailbox)
    state.last_uid = max(state.last_uid or 0, uid)


def _new_row(mailbox: MailboxSettings, uidvalidity: int, uid: int) -> ProcessedMessage:
    return ProcessedMessage(
        mailbox=mailbox.name,
        folder=mailbox.imap.folder,
        uidvalidity=uidvalidity,
        uid=uid,
        state="seen",
        attempts=0,
        reasons={},
    )


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
            if row.state in FINAL_STATES:
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
            _advance_last_uid(session, mailbox, fetched.uid)
        failpoints.hit("after-commit")
        _report_handled(mailbox, fetched, row.message_id, applied, report)
    except LeaseLost:
        raise
    except Exception as exc:  # one bad message must never stop the poll
        _record_failure(sessions, settings, mailbox, uidvalidity, fetched, exc, report, fencing)


def _report_handled(
    mailbox: MailboxSettings,
    fetched: FetchedMessage,
    message_id: str | None,
    applied: Applied,
    report: PollReport,
) -> None:
    report.count(applied.verdict)
    if applied.created:
        report.registered += 1
    log.info(
        "mailbox=%s uid=%d message_id=%s verdict=%s%s%s",
        mailbox.name,
        fetched.uid,
        quoted(message_id),
        applied.verdict,
        f" client_id={applied.client_id}" if applied.client_id else "",
        " duplicate" if applied.duplicate else "",
    )


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
            row.message_id, row.subject, row.sender = header_summary(fetched.raw)
        row.attempts = (row.attempts or 0) + 1
        row.last_error = error
        _advance_last_uid(session, mailbox, fetched.uid)
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


#: Messages recorded per transaction (fewer when their fetched bytes reach BATCH_BYTES).
BATCH_MESSAGES = 500
BATCH_BYTES = 8 << 20
#: Handled messages marked on the server per command.
ACTION_BATCH = 500


def _record_prefiltered(
    sessions: sessionmaker[Session],
    mailbox: MailboxSettings,
    uidvalidity: int,
    batch: Sequence[FetchedMessage],
    fencing: Fencing,
) -> None:
    """Record messages the prefilter ruled out as ``not_invitation``, many per transaction."""
    if not batch:
        return
    with sessions.begin() as session:
        fencing.check(session)
        existing = _existing_rows(session, mailbox, uidvalidity, batch)
        _add_prefiltered(session, mailbox, uidvalidity, batch, existing, utcnow())
        _advance_last_uid(session, mailbox, max(f.uid for f in batch))


def _existing_rows(
    session: Session, mailbox: MailboxSettings, uidvalidity: int, batch: Sequence[FetchedMessage]
) -> dict[int, ProcessedMessage]:
    """The rows earlier polls left for these messages (failed or interrupted ones), by UID."""
    return {
        row.uid: row
        for row in session.scalars(
            select(ProcessedMessage).where(
                ProcessedMessage.mailbox == mailbox.name,
                ProcessedMessage.folder == mailbox.imap.folder,
                ProcessedMessage.uidvalidity == uidvalidity,
                ProcessedMessage.uid.in_([f.uid for f in batch]),
            )
        ).all()
    }


def _add_prefiltered(
    session: Session,
    mailbox: MailboxSettings,
    uidvalidity: int,
    batch: Sequence[FetchedMessage],
    existing: dict[int, ProcessedMessage],
    now: datetime,
) -> None:
    """Rows for prefiltered messages, inserted in one statement."""
    done = mailbox.action.type == "none"
    new_rows = []
    for fetched in batch:
        message_id, subject, sender = fetched.summary or header_summary(fetched.raw)
        values = {
            "message_id": message_id,
            "original_message_id": message_id,
            "subject": subject,
            "sender": sender,
            "size": fetched.size,
            "state": "done" if done else "decided",
            "verdict": "not_invitation",
            "handler": "prefilter",
            "reasons": {"reasons": ["no Business Central marker anywhere (prefilter)"]},
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": None,
            "action_done": done,
            "updated_at": now,
        }
        row = existing.get(fetched.uid)
        if row is not None:
            if row.state not in FINAL_STATES:
                for key, value in values.items():
                    setattr(row, key, value)
            continue
        new_rows.append(
            {
                "mailbox": mailbox.name,
                "folder": mailbox.imap.folder,
                "uidvalidity": uidvalidity,
                "uid": fetched.uid,
                "created_at": now,
                **values,
            }
        )
    if new_rows:
        # A Core executemany: the ORM's bulk path costs a third more per row here.
        session.connection().execute(insert(ProcessedMessage), new_rows)


@dataclass(frozen=True)
class _Handled:
    """A parsed message decided in a batch; logged and counted once the batch is committed."""

    fetched: FetchedMessage
    message_id: str | None
    applied: Applied


def _apply_batch(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    uidvalidity: int,
    batch: Sequence[FetchedMessage],
    handlers: Sequence[Handler] | None,
    fencing: Fencing,
) -> list[_Handled]:
    """Decide and record a whole batch in one transaction; any message that raises rolls the
    whole batch back (the caller then goes through it one message per transaction)."""
    now = utcnow()
    handled: list[_Handled] = []
    rules = MailboxRules.of(settings, mailbox)
    limits = settings.limits.to_limits()
    with sessions.begin() as session:
        fencing.check(session)
        existing = _existing_rows(session, mailbox, uidvalidity, batch)
        _add_prefiltered(
            session, mailbox, uidvalidity, [f for f in batch if f.prefiltered], existing, now
        )
        for fetched in batch:
            if fetched.prefiltered:
                continue
            row = existing.get(fetched.uid)
            if row is None:
                row = _new_row(mailbox, uidvalidity, fetched.uid)
                session.add(row)
                session.flush()
            elif row.state in FINAL_STATES:
                continue
            applied = apply_message(
                session,
                row,
                fetched.raw,
                live_check=settings.verification.live_check,
                now=now,
                handlers=handlers,
                rules=rules,
                limits=limits,
            )
            handled.append(_Handled(fetched, row.message_id, applied))
        _advance_last_uid(session, mailbox, max(f.uid for f in batch))
    return handled


def _process_batch(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    uidvalidity: int,
    batch: Sequence[FetchedMessage],
    report: PollReport,
    handlers: Sequence[Handler] | None,
    fencing: Fencing,
) -> None:
    """Record a batch of fetched messages, in UID order, normally in one transaction.

    A transaction per message costs more than deciding most messages, so a batch is committed
    together; if any message in it raises, the batch is rolled back and redone one message per
    transaction, so that only that message is counted as failed (and retried or quarantined).
    """
    if not batch:
        return
    try:
        handled = _apply_batch(sessions, settings, mailbox, uidvalidity, batch, handlers, fencing)
    except LeaseLost:
        raise
    except Exception as exc:  # redone message by message, which isolates the culprit
        log.info(
            "mailbox=%s a message among UIDs %d-%d failed (%s): recording them one at a time",
            mailbox.name,
            batch[0].uid,
            batch[-1].uid,
            type(exc).__name__,
        )
        _process_sequentially(
            sessions, settings, mailbox, uidvalidity, batch, report, handlers, fencing
        )
        return
    report.count_many("not_invitation", sum(1 for f in batch if f.prefiltered))
    for item in handled:
        failpoints.hit("after-commit")
        _report_handled(mailbox, item.fetched, item.message_id, item.applied, report)


def _process_sequentially(
    sessions: sessionmaker[Session],
    settings: Settings,
    mailbox: MailboxSettings,
    uidvalidity: int,
    batch: Sequence[FetchedMessage],
    report: PollReport,
    handlers: Sequence[Handler] | None,
    fencing: Fencing,
) -> None:
    """One transaction per parsed message, prefiltered runs in between recorded together."""
    skipped: list[FetchedMessage] = []
    for fetched in batch:
        if fetched.prefiltered:
            skipped.append(fetched)
            continue
        # Earlier UIDs are committed first, so the last UID never runs ahead of them.
        _record_prefiltered(sessions, mailbox, uidvalidity, skipped, fencing)
        report.count_many("not_invitation", len(skipped))
        skipped = []
        _process_one(sessions, settings, mailbox, uidvalidity, fetched, report, handlers, fencing)
    _record_prefiltered(sessions, mailbox, uidvalidity, skipped, fencing)
    report.count_many("not_invitation", len(skipped))


def _carry_out_actions(
    sessions: sessionmaker[Session],
    inbox: Inbox,
    mailbox: MailboxSettings,
    uidvalidity: int,
    report: PollReport,
    fencing: Fencing,
) -> None:
    """Mark handled messages (in batches); move quarantined ones to the quarantine folder."""
    uids = _pending_actions(sessions, mailbox, uidvalidity)
    if not uids:
        return
    present = inbox.existing(uids)
    with sessions() as session:
        quarantined = set(
            session.scalars(
                select(ProcessedMessage.uid).where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.uid.in_(uids),
                    ProcessedMessage.state == "quarantined",
                )
            ).all()
        )
    quarantine = ServerAction(type="move", folder=mailbox.quarantine_folder)
    batches = [[uid] for uid in sorted(quarantined)]
    ordinary = sorted(set(uids) - quarantined)
    batches += [ordinary[i : i + ACTION_BATCH] for i in range(0, len(ordinary), ACTION_BATCH)]
    for batch in batches:
        with sessions.begin() as session:
            fencing.check(session)
            action = quarantine if batch[0] in quarantined else mailbox.action
            on_server = [uid for uid in batch if uid in present]
            inbox.apply_action_many(on_server, action)
            report.actions += len(on_server)
            failpoints.hit("after-action")
            session.execute(
                update(ProcessedMessage)
                .where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.uid.in_(batch),
                )
                .values(action_done=True)
            )
            session.execute(
                update(ProcessedMessage)
                .where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.uid.in_(batch),
                    ProcessedMessage.state == "decided",
                )
                .values(state="done")
            )


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
    inbox: Inbox | None = None,
    sifter: Sifter = INLINE,
) -> PollReport:
    """One idempotent poll of one mailbox. Raises :class:`MailboxUnavailable` on IMAP faults.

    ``inbox`` is a connection kept open by the caller (left open); without it the poll opens
    and closes its own. ``sifter`` runs the prefilter (in a worker process for big fetches).
    """
    started = time.monotonic()
    report = PollReport(mailbox.name)
    with sessions.begin() as session:
        fencing.check(session)
        state = _state(session, mailbox)
        state.last_poll_at = utcnow()
        known_validity, last_uid = state.uidvalidity, state.last_uid or 0
    try:
        opened = (
            contextlib.nullcontext(inbox)
            if inbox is not None
            else Inbox(mailbox.imap, mailbox=mailbox.name)
        )
        with opened as inbox:
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
            # A custom handler set may look at anything, so only the shipped one is prefiltered;
            # confirmations answer every forward, so their mailboxes parse everything.
            prefilter = handlers is None and not mailbox.confirm.enabled
            batch: list[FetchedMessage] = []
            batch_bytes = 0
            for fetched in inbox.fetch(
                todo, limits=settings.limits.to_limits(), prefilter=prefilter, sifter=sifter
            ):
                if stop is not None and stop.is_set():
                    break  # shutting down: the rest is picked up by the next start
                report.fetched += 1
                failpoints.hit("fetched")
                batch.append(fetched)
                batch_bytes += len(fetched.raw)
                if len(batch) >= BATCH_MESSAGES or batch_bytes >= BATCH_BYTES:
                    _process_batch(
                        sessions,
                        settings,
                        mailbox,
                        status.uidvalidity,
                        batch,
                        report,
                        handlers,
                        fencing,
                    )
                    batch, batch_bytes = [], 0
            _process_batch(
                sessions, settings, mailbox, status.uidvalidity, batch, report, handlers, fencing
            )
            _carry_out_actions(sessions, inbox, mailbox, status.uidvalidity, report, fencing)
    except MailboxUnavailable as exc:
        record_poll_error(sessions, mailbox, str(exc))
        report.error = str(exc)
        raise
    except NETWORK_ERRORS as exc:
        message = f"mailbox {mailbox.name}: connection lost ({type(exc).__name__}: {exc})"
        record_poll_error(sessions, mailbox, message)
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


def touch_success(session: Session, mailbox: MailboxSettings) -> None:
    """A poll that found nothing new still counts as a successful poll for health checks."""
    state = _state(session, mailbox)
    now = utcnow()
    state.last_poll_at = now
    state.last_success_at = now
    state.errors_since_success = 0
    state.last_error = None


def record_poll_error(
    sessions: sessionmaker[Session], mailbox: MailboxSettings, error: str
) -> None:
    with sessions.begin() as session:
        state = _state(session, mailbox)
        state.last_error = error[:2000]
        state.errors_since_success = (state.errors_since_success or 0) + 1
