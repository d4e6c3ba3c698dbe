"""Deciding and registering the fetched messages of one poll, normally a batch at a time.

Each message gets a row keyed by (mailbox, folder, UIDVALIDITY, UID); its outcome is committed
together with the registration, the digest events and the mailbox's last UID. A message whose
processing raises is rolled back, counted, and retried on later polls with backoff; after
``poll.max_attempts`` it is put in quarantine. The server-side action is not done here: the poll
(:mod:`acchub_mailbot.app.poll`) carries it out once the outcome is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.app.backoff import backoff
from acchub_mailbot.app.pipeline import Applied, MailboxRules, apply_message
from acchub_mailbot.app.pollstate import Fencing, PollReport, advance_last_uid
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.core.messages import header_summary
from acchub_mailbot.handlers.base import Handler
from acchub_mailbot.logs import quoted
from acchub_mailbot.mail.inbox import FetchedMessage
from acchub_mailbot.store.events import add_event
from acchub_mailbot.store.leases import LeaseLost
from acchub_mailbot.store.models import ProcessedMessage, utcnow

# The poll's logger: these lines were always the poller's, and operators filter on its name.
log = logging.getLogger("acchub_mailbot.poller")

#: States of a message that is finished with: never decided again.
FINAL_STATES = ("decided", "done", "quarantined")


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
            advance_last_uid(session, mailbox, fetched.uid)
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
        advance_last_uid(session, mailbox, fetched.uid)
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
        advance_last_uid(session, mailbox, max(f.uid for f in batch))


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
        advance_last_uid(session, mailbox, max(f.uid for f in batch))
    return handled


def process_batch(
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
