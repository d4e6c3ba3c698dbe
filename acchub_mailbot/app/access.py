"""Who sees what: an admin sees every client; an accountant sees the clients they own (the
forwarders recorded as owners). Every page and API route goes through these, so the rule lives
once. Another accountant's client is "not found", never "forbidden": its existence is not told.
"""

from __future__ import annotations

from typing import Any, Protocol

from acchub_mailbot.app import clients
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.roles import ADMIN
from acchub_mailbot.errors import NotFound


class Viewer(Protocol):
    @property
    def email(self) -> str: ...

    @property
    def role(self) -> str: ...


def _owns(viewer: Viewer, client: dict[str, Any]) -> bool:
    return viewer.role == ADMIN or viewer.email in (client.get("owners") or [])


def clients_for(
    app: App, viewer: Viewer, *, status: str | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    """The clients this viewer may see, with the same filters as ``clients list``."""
    if viewer.role != ADMIN:
        if owner is not None and owner.strip().lower() != viewer.email:
            return []
        owner = viewer.email
    return clients.list_clients(app, status=status, owner=owner)


def client_for(app: App, viewer: Viewer, ref: str) -> dict[str, Any]:
    """One client card, if this viewer may see it; ``NotFound`` otherwise."""
    card = clients.show_client(app, ref)
    if not _owns(viewer, card):
        raise NotFound(f"no client {ref}")
    return card
