"""Who sees what: an admin sees every client; an accountant sees the clients they own (the
forwarders recorded as owners). Every page and API route goes through these, so the rule lives
once. Another accountant's client is "not found", never "forbidden": its existence is not told.
"""

from __future__ import annotations

from typing import Any, Protocol

from acchub_mailbot.app import clients
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.clientquery import ClientQuery
from acchub_mailbot.core.roles import ADMIN
from acchub_mailbot.errors import NotFound


class Viewer(Protocol):
    @property
    def email(self) -> str: ...

    @property
    def role(self) -> str: ...


def _owns(viewer: Viewer, client: dict[str, Any]) -> bool:
    return viewer.role == ADMIN or viewer.email in (client.get("owners") or [])


def clients_for(app: App, viewer: Viewer, query: ClientQuery) -> clients.ClientPage:
    """The clients this viewer may see that match ``query``; an accountant's are their own."""
    if viewer.role != ADMIN:
        if query.owner is not None and query.owner != viewer.email:
            return clients.ClientPage([], 0, query)
        query = query.for_owner(viewer.email)
    return clients.find_clients(app, query)


def client_for(app: App, viewer: Viewer, ref: str) -> dict[str, Any]:
    """One client card, if this viewer may see it; ``NotFound`` otherwise."""
    card = clients.show_client(app, ref)
    if not _owns(viewer, card):
        raise NotFound(f"no client {ref}")
    return card


def require_admin(viewer: Viewer) -> None:
    """Admin-only pages are "not found" to anyone else, like another accountant's client."""
    if viewer.role != ADMIN:
        raise NotFound("no such page")
