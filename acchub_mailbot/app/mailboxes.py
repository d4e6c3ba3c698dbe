"""The Mailboxes page as use cases: each mailbox's health as ``status`` reports it, and
"poll now", which is a row in the database. The web process never polls: the instance that
holds the mailbox sees the request at its next heartbeat and polls it in full."""

from __future__ import annotations

from typing import Any

from acchub_mailbot.app import audit
from acchub_mailbot.app.access import Viewer, require_admin
from acchub_mailbot.app.runtime import App
from acchub_mailbot.app.status import status_report
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store import pollrequests


def overview(app: App, viewer: Viewer) -> dict[str, Any]:
    """The ``status --json`` report, for admins only (others get ``NotFound``)."""
    require_admin(viewer)
    return status_report(app, app.config_dir)


def poll_now(app: App, viewer: Viewer, name: str, *, address: str | None = None) -> bool:
    """Ask for a poll of ``name``; False when one was already waiting. Audited either way."""
    require_admin(viewer)
    mailbox = next((m for m in app.settings.mailboxes if m.name == name), None)
    if mailbox is None:
        raise NotFound(f"no mailbox {name}")
    if not mailbox.enabled:
        raise Refused(f"mailbox {name} is disabled in the config (mailboxes[].enabled: false)")
    with app.sessions.begin() as session:
        new = pollrequests.request(session, name, viewer.email)
    audit.record(app, viewer.email, audit.POLL_REQUESTED, target=f"mailbox {name}", address=address)
    return new
