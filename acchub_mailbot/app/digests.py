"""Digest use cases a person starts: preview what would be sent, and send now."""

from __future__ import annotations

from acchub_mailbot.app.delivery import render_for
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound
from acchub_mailbot.report.digest import RenderedDigest
from acchub_mailbot.store.events import unassigned_events
from acchub_mailbot.store.models import utcnow


def preview_digest(app: App, mailbox: str | None = None) -> tuple[RenderedDigest, bool]:
    """Render what would be sent now, consuming nothing; also says whether it would be empty."""
    enabled = app.mailboxes()
    if mailbox is None and not enabled:
        raise NotFound("no mailbox configured")
    target = app.settings.mailbox(mailbox) if mailbox else enabled[0]
    with app.sessions() as session:
        events = unassigned_events(session, target.name)
        return render_for(session, app.settings, target, events, utcnow())


def send_digests_now(app: App, mailbox: str | None = None) -> list[str]:
    """Send the digest now, whatever the schedule; returns where each one went."""
    return app.send_digests(force=True, name=mailbox)
