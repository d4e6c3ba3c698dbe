"""poll_mailbox: fetch what is new, handle each message in its own transaction, then mark it.

The order is what makes restarts safe:

1. A message gets a row keyed by (mailbox, folder, UIDVALIDITY, UID) and its outcome is committed
   together with the registration and the digest events, and the mailbox's last UID.
2. Only then is the server-side action carried out, and the row marked ``done``.
3. A message whose processing raises is rolled back, counted, retried on later polls with
   backoff, and after ``poll.max_attempts`` put in quarantine for a person; the poll goes on.

A crash between 1 and 2 leaves ``action_done`` false, and the next poll redoes the action.
Step 1 and 3 are :mod:`acchub_mailbot.app.decide`; the mailbox's cursor and the poll's tally are
kept by :mod:`acchub_mailbot.app.pollstate`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot import failpoints
from acchub_mailbot.app.backoff import backoff
from acchub_mailbot.app.decide import FINAL_STATES, process_batch
from acchub_mailbot.app.pollstate import (
    NO_FENCING,
    Fencing,
    PollReport,
    mailbox_state,
    next_work_at,
    pending_actions,
    record_poll_error,
    retry_uids,
    touch_success,
)
from acchub_mailbot.config import MailboxSettings, ServerAction, Settings
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.handlers.base import Handler
from acchub_mailbot.logs import quoted
from acchub_mailbot.mail.inbox import NETWORK_ERRORS, FetchedMessage, Inbox
from acchub_mailbot.mail.sifting import INLINE, Sifter
from acchub_mailbot.store.models import ProcessedMessage, utcnow

__all__ = [
    "ACTION_BATCH",
    "BATCH_BYTES",
    "BATCH_MESSAGES",
    "FINAL_STATES",
    "NO_FENCING",
    "Fencing",
    "PollReport",
    "backoff",
    "next_work_at",
    "poll_mailbox",
    "record_poll_error",
    "touch_success",
]

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.poller")


#: Messages recorded per transaction (fewer when their fetched bytes reach BATCH_BYTES).
BATCH_MESSAGES = 500
BATCH_BYTES = 8 << 20
#: Handled messages marked on the server per command.
ACTION_BATCH = 500


def _carry_out_actions(
    sessions: sessionmaker[Session],
    inbox: Inbox,
    mailbox: MailboxSettings,
    uidvalidity: int,
    report: PollReport,
    fencing: Fencing,
) -> None:
    """Mark handled messages (in batches); move quarantined ones to the quarantine folder."""
    uids = pending_actions(sessions, mailbox, uidvalidity)
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
        state = mailbox_state(session, mailbox)
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
                state = mailbox_state(session, mailbox)
                if state.uidvalidity != status.uidvalidity:
                    state.uidvalidity = status.uidvalidity
                    state.last_uid = last_uid
            _release_retries(sessions, inbox, mailbox, report, fencing)
            new = inbox.uids_after(last_uid)
            retry = retry_uids(sessions, mailbox, status.uidvalidity, utcnow())
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
                    process_batch(
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
            process_batch(
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
        state = mailbox_state(session, mailbox)
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
