"""The client card as a signed-in person uses it in the dashboard: see, edit, reveal the access
link, *Test client URL*, accept, archive, add a client and export the list.

Each call checks the object against the person (``app.access``), does the work through the same
use cases as the CLI (``app.clients``), and writes the audit log. Links that grant access leave
this module masked, except from ``reveal``, which is audited before it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from acchub_mailbot.app import access, audit, clients
from acchub_mailbot.app.access import Viewer
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.clientquery import ClientQuery
from acchub_mailbot.core.linkmask import SECRET_FIELDS, masked_card
from acchub_mailbot.core.roles import ADMIN
from acchub_mailbot.errors import Refused
from acchub_mailbot.store import owners

#: The card's fields a person edits in the form, in the order shown.
FORM_FIELDS = ("name", "client_url", "contact_name", "contact_email", "phone", "notes")
#: Everything the card's form may change: the fields, the masked links (a blank keeps the
#: link) and the status.
EDITABLE = (*FORM_FIELDS, *SECRET_FIELDS, "status")


def card(app: App, viewer: Viewer, ref: str) -> dict[str, Any]:
    """The whole card with its history, access links masked."""
    return masked_card(access.client_for(app, viewer, ref))


def reveal(
    app: App, viewer: Viewer, ref: str, field: str = "access_link", *, address: str | None = None
) -> str | None:
    """The link itself; the reveal is in the audit log before the link is returned."""
    if field not in SECRET_FIELDS:
        raise Refused(f"only {', '.join(SECRET_FIELDS)} can be revealed")
    found = access.client_for(app, viewer, ref)
    audit.record(
        app, viewer.email, audit.LINK_REVEALED, target=f"client {found['id']}",
        detail={"field": field}, address=address,
    )  # fmt: skip
    value = found.get(field)
    return value if isinstance(value, str) else None


def _changed(current: Mapping[str, Any], submitted: Mapping[str, str | None]) -> dict[str, Any]:
    """The submitted fields whose value differs from the card's; a blank clears a field."""
    changes: dict[str, Any] = {}
    for field, raw in submitted.items():
        if raw is None:
            continue
        value = raw.strip()
        if field in SECRET_FIELDS and not value:
            continue  # a masked field left blank keeps its link
        if value != (current.get(field) or ""):
            changes[field] = value
    return changes


def edit(
    app: App, viewer: Viewer, ref: str, submitted: Mapping[str, str | None], *,
    address: str | None = None,
) -> set[str]:  # fmt: skip
    """Apply the fields that changed; they become protected from later invitations."""
    current = access.client_for(app, viewer, ref)
    changes = _changed(current, submitted)
    if not changes:
        return set()
    if changes.get("status") and viewer.role != ADMIN and changes["status"] not in (
        "registered", "archived", current["status"],
    ):  # fmt: skip
        raise Refused("an accountant can set a client to registered or archived only")
    applied, _card = clients.edit_client(app, str(current["id"]), changes, actor=viewer.email)
    if applied:
        audit.record(
            app, viewer.email, audit.CLIENT_EDITED, target=f"client {current['id']}",
            detail={"fields": sorted(applied)}, address=address,
        )  # fmt: skip
    return applied


def test_url(app: App, viewer: Viewer, ref: str, *, address: str | None = None) -> clients.UrlTest:
    """*Test client URL* for a client this viewer may see; the card records the result."""
    found = access.client_for(app, viewer, ref)
    result = clients.url_test(app, str(found["id"]), actor=viewer.email)
    audit.record(
        app, viewer.email, audit.URL_TESTED, target=f"client {found['id']}",
        detail={"outcome": result.result.outcome.value}, address=address,
    )  # fmt: skip
    return result


def accept(app: App, viewer: Viewer, ref: str, *, address: str | None = None) -> bool:
    found = access.client_for(app, viewer, ref)
    _id, new = clients.accept_client(app, str(found["id"]), actor=viewer.email)
    if new:
        audit.record(
            app, viewer.email, audit.CLIENT_ACCEPTED, target=f"client {found['id']}",
            address=address,
        )  # fmt: skip
    return new


def archive(app: App, viewer: Viewer, ref: str, *, address: str | None = None) -> None:
    found = access.client_for(app, viewer, ref)
    clients.archive_client(app, str(found["id"]), actor=viewer.email)
    audit.record(
        app, viewer.email, audit.CLIENT_ARCHIVED, target=f"client {found['id']}",
        address=address,
    )  # fmt: skip


def add(
    app: App, viewer: Viewer, url: str, fields: Mapping[str, str | None], *,
    address: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """*New client*, checked like ``clients add``; an accountant becomes its owner."""
    values = {k: (v or "").strip() or None for k, v in fields.items() if k in FORM_FIELDS}
    values.pop("client_url", None)
    made = clients.add_client(app, url=url.strip(), fields=values, actor=viewer.email)
    if viewer.role != ADMIN:
        with app.sessions.begin() as session:
            owners.add_owner(session, made["id"], viewer.email)
    audit.record(
        app, viewer.email, audit.CLIENT_ADDED, target=f"client {made['id']}", address=address
    )
    return card(app, viewer, str(made["id"]))  # read again: with its owner


def export_csv(
    app: App, viewer: Viewer, query: ClientQuery, *, address: str | None = None
) -> tuple[str, int]:
    """Every client the list shows for ``query`` (all its pages) as CSV, links masked."""
    found = access.clients_for(app, viewer, replace(query, page=1, per_page=None))
    text = clients.as_csv(masked_card(item) for item in found.items)
    audit.record(
        app, viewer.email, audit.EXPORTED, detail={"count": found.total, **query.params()},
        address=address,
    )  # fmt: skip
    return text, found.total
