"""``status`` as a use case: per mailbox health, backlog and lease holder; clients and digests.

Per mailbox it says who holds it, since and until when, and which live instances wait for it
(``waiting``); an instance is live while it heartbeats. A "poll now" asked for in the dashboard
shows until the poll that answers it (``poll_requested_at``).

The shape returned is the contract of ``status --json``; monitors read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import MailboxSettings
from acchub_mailbot.mail.oauth.provider import TokenProvider
from acchub_mailbot.mail.oauth.settings import SMTP_TOKEN_NAME, OAuthSettings
from acchub_mailbot.mail.oauth.store import store_for
from acchub_mailbot.store import claims, leases, pollrequests, processed, registry
from acchub_mailbot.store.events import count_pending_digests
from acchub_mailbot.store.models import MailboxState


def token_status(mailbox: MailboxSettings, config_dir: Path) -> dict[str, Any] | None:
    """The OAuth token's state as stored (no network): signed in, expiry, last error."""
    return _token_row(mailbox.name, getattr(mailbox.imap, "oauth", None), config_dir)


def _token_row(name: str, oauth: object, config_dir: Path) -> dict[str, Any] | None:
    if not isinstance(oauth, OAuthSettings):
        return None
    store = store_for(name, oauth, config_dir)
    with TokenProvider(oauth, store, mailbox=name) as provider:
        row = provider.status().as_dict()
    row = {k: row.get(k) for k in ("signed_in", "expires_at", "last_refresh_at", "last_error")}
    return {"grant": oauth.grant, **row}


def sending_status(app: App, session: Session, config_dir: Path) -> dict[str, Any]:
    """Mail held back by failed sends, and the sending sign-in: unhealthy while mail waits."""
    held = claims.held_back(session)
    smtp = app.settings.smtp
    return {
        "healthy": held.digests + held.confirmations == 0,
        "held_digests": held.digests,
        "held_confirmations": held.confirmations,
        "held_since": held.since.isoformat() if held.since else None,
        "last_error": held.last_error,
        "token": _token_row(SMTP_TOKEN_NAME, smtp.oauth, config_dir) if smtp else None,
    }


def status_report(app: App, config_dir: Path) -> dict[str, Any]:
    """Healthy means every enabled mailbox polled successfully within 3 intervals and no
    digest or reply is held back by a failed send."""
    now = datetime.now(UTC)
    interval = app.settings.poll.interval_seconds
    rows = []
    unhealthy = False
    with app.sessions() as session:
        holders = {
            lease.mailbox: lease for lease in leases.holders(session) if lease.expires_at > now
        }
        window = timedelta(seconds=app.settings.poll.missed_heartbeats)
        live = leases.live_instances(session, window, now)
        waiting = leases.waiting_for(session, window, now)
        asked = pollrequests.waiting(session)
        for mailbox in app.settings.mailboxes:
            state = session.get(MailboxState, mailbox.name)
            lease = holders.get(mailbox.name)
            request = asked.get(mailbox.name)
            counts = processed.state_counts(session, mailbox.name)
            last_ok = state.last_success_at if state else None
            healthy = last_ok is not None and (now - last_ok).total_seconds() <= 3 * interval
            unhealthy = unhealthy or (mailbox.enabled and not healthy)
            rows.append(
                {
                    "mailbox": mailbox.name,
                    "healthy": healthy,
                    "last_poll_at": state.last_poll_at.isoformat()
                    if state and state.last_poll_at
                    else None,
                    "last_success_at": last_ok.isoformat() if last_ok else None,
                    "last_error": state.last_error if state else None,
                    "last_uid": state.last_uid if state else None,
                    "uidvalidity": state.uidvalidity if state else None,
                    "backlog": counts.get("seen", 0) + counts.get("failed", 0),
                    "quarantined": counts.get("quarantined", 0),
                    "handled": counts.get("done", 0) + counts.get("decided", 0),
                    "held_by": lease.holder if lease else None,
                    "held_since": lease.acquired_at.isoformat() if lease else None,
                    "held_until": lease.expires_at.isoformat() if lease else None,
                    "waiting": bool(waiting.get(mailbox.name)),
                    "waiting_instances": waiting.get(mailbox.name, []),
                    "token": token_status(mailbox, config_dir),
                    "enabled": mailbox.enabled,
                    "poll_requested_at": request.requested_at.isoformat() if request else None,
                    "poll_requested_by": request.requested_by if request else None,
                }
            )
        clients_by_status = registry.count_by_status(session)
        pending = count_pending_digests(session)
        sending = sending_status(app, session, config_dir)
    return {
        "healthy": not unhealthy and sending["healthy"],
        "mailboxes": rows,
        "clients": clients_by_status,
        "pending_digests": pending,
        "sending": sending,
        "instances": live,
    }
