"""Messages that could not be processed: list them, and put them back for another try."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from acchub_mailbot.app.runtime import App
from acchub_mailbot.store import processed


def failed_messages(app: App) -> list[dict[str, Any]]:
    """Quarantined messages and those waiting for a retry: the shape of ``failed list --json``."""
    with app.sessions() as session:
        return [
            {
                "id": r.id,
                "mailbox": r.mailbox,
                "folder": r.folder,
                "uid": r.uid,
                "state": r.state,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "subject": r.subject,
                "last_error": r.last_error,
                "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            }
            for r in processed.failed_messages(session)
        ]


def retry_messages(app: App, ids: Sequence[int] | None) -> int:
    """Process these messages (all failed and quarantined ones when None) at the next poll.

    The retry is a row state the poller picks up, so it works whichever instance holds the
    mailbox and never touches IMAP from here.
    """
    with app.sessions.begin() as session:
        return processed.request_retry(session, ids)
