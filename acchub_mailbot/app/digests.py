"""Digest use cases a person starts: preview what would be sent, and send now.

The dashboard's preview is each person's own next digest: an admin's is the mailbox's (the
admins' audience), an accountant's is the one addressed to them alone (``digest_to:
forwarders``). Links into a client's books are masked in it, as everywhere on screen."""

from __future__ import annotations

from dataclasses import dataclass

from acchub_mailbot.app.access import Viewer
from acchub_mailbot.app.delivery import audience_language, render_for
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.roles import ADMIN
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


@dataclass(frozen=True)
class DigestPreview:
    mailboxes: list[str]
    mailbox: str
    #: Who the digest is for: "admins", or the accountant's address.
    audience: str
    rendered: RenderedDigest
    empty: bool


def preview_for(app: App, viewer: Viewer, mailbox: str | None = None) -> DigestPreview:
    """The viewer's own next digest of ``mailbox`` (default: the first enabled), links masked."""
    enabled = app.mailboxes()
    if not enabled:
        raise NotFound("no mailbox configured")
    target = next((m for m in enabled if m.name == mailbox), None) if mailbox else enabled[0]
    if target is None:
        raise NotFound(f"no mailbox {mailbox}")
    admin = viewer.role == ADMIN
    audience = "" if admin else f"owner:{viewer.email}"
    language = audience_language(app.settings, target, audience)
    with app.sessions() as session:
        events = [e for e in unassigned_events(session, target.name) if e.audience == audience]
        rendered, empty = render_for(
            session, app.settings, target, events, utcnow(), language=language,
            with_health=admin, masked=True,
        )  # fmt: skip
    return DigestPreview(
        [m.name for m in enabled], target.name, "admins" if admin else viewer.email, rendered, empty
    )
