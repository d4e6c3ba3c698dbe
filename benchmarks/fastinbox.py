"""A prototype of the fast intake, wired into the real poller for measurement.

It shows (and lets the benchmark time) what the issue asks of the IMAP side, using the pure
modules :mod:`acchub_mailbot.bodyparts` and :mod:`acchub_mailbot.prefilter`:

* one batched ``FETCH (BODYSTRUCTURE RFC822.SIZE FLAGS)`` per chunk of UIDs, then one batched
  ``FETCH`` of header and text sections per group of messages with the same section list --
  attachments are never transferred;
* messages that cannot be invitations are recorded as ``not_invitation`` without parsing;
* connections stay open with the folder selected, and "anything new?" is a NOOP plus
  ``STATUS (UIDNEXT UIDVALIDITY)`` on it (no re-SELECT, no search).

The poller is reused unchanged: :func:`install` swaps the poller's ``Inbox`` for a pooled
:class:`FastInbox` and its ``apply_message`` for one that records prefiltered messages without
parsing. The same changes belong in ``inbox.py``/``poller.py``/``pipeline.py`` proper.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from email import policy
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from acchub_mailbot import bodyparts, pipeline, poller
from acchub_mailbot.config import ImapSettings, MailboxSettings
from acchub_mailbot.inbox import FetchedMessage, Inbox
from acchub_mailbot.prefilter import sections_could_be_invitation
from acchub_mailbot.store.models import ProcessedMessage

#: UIDs per FETCH command: Dovecot refuses commands over 64 kB (~12,000 UIDs).
META_CHUNK = 2000
SECTION_CHUNK = 500
#: Marks a FetchedMessage whose raw bytes are only its header, because the prefilter ruled it out.
PREFILTERED = b"\x00acchub-prefiltered\x00"


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _flags(data: dict[bytes, Any]) -> tuple[str, ...]:
    return tuple(
        f.decode("ascii", "replace") if isinstance(f, bytes) else str(f)
        for f in data.get(b"FLAGS", ())
    )


class FastInbox(Inbox):
    """:class:`Inbox` with a BODYSTRUCTURE-guided, prefiltered ``fetch`` and a STATUS check."""

    stats: dict[str, int]

    def __init__(self, settings: ImapSettings, *, mailbox: str) -> None:
        super().__init__(settings, mailbox=mailbox)
        self.stats = {"prefiltered": 0, "parsed": 0, "whole": 0}
        self._selected = False

    def status(self) -> tuple[int, int]:
        """``(UIDVALIDITY, UIDNEXT)`` of the selected folder: the cheap "anything new?".

        STATUS on an unselected folder makes Dovecot open its index (13 ms at 30,000 messages,
        growing with size); on the selected one it is ~0.25 ms but answers from this session's
        view, which a NOOP brings up to date first.
        """
        if self._client is None or not self._selected:
            self.select()
        self.client.noop()
        info = self.client.folder_status(self.settings.folder, [b"UIDVALIDITY", b"UIDNEXT"])
        return int(info.get(b"UIDVALIDITY", 0)), int(info.get(b"UIDNEXT", 0))

    def select(self) -> Any:
        status = super().select()
        self._selected = True
        return status

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        for chunk in _chunks(list(uids), META_CHUNK):
            meta: dict[int, dict[bytes, Any]] = self.client.fetch(
                chunk, ["BODYSTRUCTURE", "RFC822.SIZE", "FLAGS"]
            )
            plans = {uid: bodyparts.plan(meta[uid].get(b"BODYSTRUCTURE")) for uid in meta}
            groups: dict[tuple[str, ...], list[int]] = {}
            for uid, plan in plans.items():
                if not plan.whole:
                    groups.setdefault(plan.sections, []).append(uid)
            fetched: dict[int, dict[str, bytes]] = {}
            for sections, members in groups.items():
                items = bodyparts.fetch_items(sections)
                for part in _chunks(members, SECTION_CHUNK):
                    response = self.client.fetch(part, items)
                    for uid, data in response.items():
                        fetched[uid] = {
                            s: bytes(data.get(bodyparts.response_key(s)) or b"") for s in sections
                        }
            for uid in chunk:
                data = meta.get(uid)
                if data is None:
                    continue  # expunged meanwhile
                size = int(data.get(b"RFC822.SIZE", 0))
                message = self._decide_fetch(uid, plans[uid], fetched.get(uid), size, data)
                if message is not None:
                    yield message

    def _decide_fetch(
        self,
        uid: int,
        plan: bodyparts.Plan,
        sections: dict[str, bytes] | None,
        size: int,
        data: dict[bytes, Any],
    ) -> FetchedMessage | None:
        flags = _flags(data)
        if not plan.whole and sections is not None:
            if not sections_could_be_invitation(plan, sections):
                self.stats["prefiltered"] += 1
                return FetchedMessage(uid, PREFILTERED + sections.get("HEADER", b""), size, flags)
            with contextlib.suppress(bodyparts.Unplannable):
                self.stats["parsed"] += 1
                return FetchedMessage(uid, bodyparts.reassemble(plan, sections), size, flags)
        self.stats["whole"] += 1
        response = self.client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        if response is None:
            return None
        return FetchedMessage(uid, bytes(response.get(b"BODY[]") or b""), size, flags)


def apply_message(
    session: Session, row: ProcessedMessage, raw: bytes, **kwargs: Any
) -> pipeline.Applied:
    """``pipeline.apply_message``, except that a prefiltered message is recorded unparsed."""
    if not raw.startswith(PREFILTERED):
        return pipeline.apply_message(session, row, raw, **kwargs)
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[len(PREFILTERED) :])
    row.message_id = (str(headers.get("Message-ID") or "").strip()[:998]) or None
    row.original_message_id = row.message_id
    row.subject = str(headers.get("Subject") or "")[:2000]
    row.sender = str(headers.get("From") or "")[:320] or None
    row.verdict = "not_invitation"
    row.handler = "prefilter"
    row.reasons = {"reasons": ["no Business Central marker anywhere (prefilter)"]}
    row.state = "decided"
    row.last_error = None
    row.next_attempt_at = None
    return pipeline.Applied("not_invitation")


class InboxPool:
    """Keeps one logged-in :class:`FastInbox` per mailbox open across polls."""

    def __init__(self) -> None:
        self.inboxes: dict[str, FastInbox] = {}
        self.seen: dict[str, tuple[int, int]] = {}

    def get(self, settings: ImapSettings, mailbox: str) -> FastInbox:
        inbox = self.inboxes.get(mailbox)
        if inbox is None:
            inbox = FastInbox(settings, mailbox=mailbox)
            inbox.connect()
            self.inboxes[mailbox] = inbox
        return inbox

    def close(self) -> None:
        for inbox in self.inboxes.values():
            inbox.close()
        self.inboxes.clear()


POOL = InboxPool()


class _Pooled:
    """What ``poller.poll_mailbox`` gets for ``Inbox(settings, mailbox=...)``: an open inbox
    from the pool, left open when the poll ends."""

    def __init__(self, settings: ImapSettings, *, mailbox: str) -> None:
        self.inbox = POOL.get(settings, mailbox)

    def __enter__(self) -> FastInbox:
        return self.inbox

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            # A broken connection is replaced at the next poll; the folder stays selected
            # otherwise, which is what keeps the "anything new?" check cheap.
            POOL.inboxes.pop(self.inbox.mailbox, None)
            self.inbox.close()


# -- batched recording of prefiltered messages ---------------------------------------------------

_ORIGINAL_PROCESS = poller._process_one
_ORIGINAL_ACTIONS = poller._carry_out_actions
_PENDING: list[FetchedMessage] = []
BATCH = 500


def _row_values(
    mailbox: MailboxSettings, uidvalidity: int, fetched: FetchedMessage, done: bool
) -> dict[str, Any]:
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(fetched.raw[len(PREFILTERED) :])
    message_id = str(headers.get("Message-ID") or "").strip()[:998] or None
    return {
        "mailbox": mailbox.name,
        "folder": mailbox.imap.folder,
        "uidvalidity": uidvalidity,
        "uid": fetched.uid,
        "message_id": message_id,
        "original_message_id": message_id,
        "subject": str(headers.get("Subject") or "")[:2000],
        "sender": str(headers.get("From") or "")[:320] or None,
        "size": fetched.size,
        "state": "done" if done else "decided",
        "verdict": "not_invitation",
        "handler": "prefilter",
        "reasons": {"reasons": ["no Business Central marker anywhere (prefilter)"]},
        "attempts": 0,
        "action_done": done,
    }


def _flush(
    sessions: Any,
    mailbox: MailboxSettings,
    uidvalidity: int,
    report: poller.PollReport,
    fencing: poller.Fencing,
) -> None:
    """Record the pending prefiltered messages in one transaction (they have no side effects,
    so they need not each have their own)."""
    if not _PENDING:
        return
    batch, _PENDING[:] = list(_PENDING), []
    done = mailbox.action.type == "none"
    with sessions.begin() as session:
        fencing.check(session)
        known = set(
            session.scalars(
                select(ProcessedMessage.uid).where(
                    ProcessedMessage.mailbox == mailbox.name,
                    ProcessedMessage.folder == mailbox.imap.folder,
                    ProcessedMessage.uidvalidity == uidvalidity,
                    ProcessedMessage.uid.in_([f.uid for f in batch]),
                )
            )
        )
        rows = [_row_values(mailbox, uidvalidity, f, done) for f in batch if f.uid not in known]
        if rows:
            session.execute(insert(ProcessedMessage), rows)
        state = poller._state(session, mailbox)
        state.last_uid = max(state.last_uid or 0, *(f.uid for f in batch))
    for _ in rows:
        report.count("not_invitation")


def _process_one(
    sessions: Any,
    settings: Any,
    mailbox: MailboxSettings,
    uidvalidity: int,
    fetched: FetchedMessage,
    report: poller.PollReport,
    handlers: Any,
    fencing: poller.Fencing,
) -> None:
    if fetched.raw.startswith(PREFILTERED):
        _PENDING.append(fetched)
        if len(_PENDING) >= BATCH:
            _flush(sessions, mailbox, uidvalidity, report, fencing)
        return
    _flush(sessions, mailbox, uidvalidity, report, fencing)
    _ORIGINAL_PROCESS(sessions, settings, mailbox, uidvalidity, fetched, report, handlers, fencing)


def _carry_out_actions(
    sessions: Any,
    inbox: Any,
    mailbox: MailboxSettings,
    uidvalidity: int,
    report: poller.PollReport,
    fencing: poller.Fencing,
) -> None:
    _flush(sessions, mailbox, uidvalidity, report, fencing)
    _ORIGINAL_ACTIONS(sessions, inbox, mailbox, uidvalidity, report, fencing)


def install() -> None:
    """Wire the prototype into the real poller (this process only)."""
    poller.Inbox = _Pooled  # type: ignore[assignment,misc]
    poller.apply_message = apply_message
    poller._process_one = _process_one
    poller._carry_out_actions = _carry_out_actions


def poll_if_new(mailbox: MailboxSettings, poll: Any) -> Any:
    """Run ``poll(mailbox)`` only when STATUS shows a change since the last successful poll.

    The status is read *before* polling and remembered only after the poll succeeded, so mail
    arriving during a poll is still seen by the next check. Returns ``None`` for "nothing new".
    """
    current = POOL.get(mailbox.imap, mailbox.name).status()
    if POOL.seen.get(mailbox.name) == current:
        return None
    report = poll(mailbox)
    if getattr(report, "error", None) is None:
        POOL.seen[mailbox.name] = current
    return report


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


__all__ = ["FastInbox", "InboxPool", "apply_message", "install", "poll_if_new"]
