"""The audit log as use cases: what the dashboard records, and the admins' view of it.

Every sign-in, failed sign-in, reveal of an access link, edit, decision and export is written
here by the use case that does it, so no front end can forget one. An entry names the person,
the action and its object; it never holds a link, a password or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acchub_mailbot.app.access import Viewer, require_admin
from acchub_mailbot.app.runtime import App
from acchub_mailbot.store import audit

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
LINK_REVEALED = "link_revealed"
CLIENT_ADDED = "client_added"
CLIENT_EDITED = "client_edited"
CLIENT_ACCEPTED = "client_accepted"
CLIENT_ARCHIVED = "client_archived"
URL_TESTED = "url_tested"
REGISTERED_ANYWAY = "registered_anyway"
DISMISSED = "dismissed"
RETRY_REQUESTED = "retry_requested"
POLL_REQUESTED = "poll_requested"
EXPORTED = "clients_exported"
TOKEN_CREATED = "token_created"  # noqa: S105 (an action's name, not a secret)
TOKEN_REVOKED = "token_revoked"  # noqa: S105
SESSION_ENDED = "session_ended"

ACTIONS = (
    SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, LINK_REVEALED, CLIENT_ADDED, CLIENT_EDITED,
    CLIENT_ACCEPTED, CLIENT_ARCHIVED, URL_TESTED, REGISTERED_ANYWAY, DISMISSED, RETRY_REQUESTED,
    POLL_REQUESTED, EXPORTED, TOKEN_CREATED, TOKEN_REVOKED, SESSION_ENDED,
)  # fmt: skip

PAGE_SIZE = 100


def record(
    app: App,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    with app.sessions.begin() as session:
        audit.add(session, actor, action, target=target, detail=detail, address=address)


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def audit_log(app: App, viewer: Viewer, *, action: str | None = None, page: int = 1) -> AuditPage:
    """One page of the log, newest first; admins only (others get ``NotFound``)."""
    require_admin(viewer)
    page = max(1, page)
    with app.sessions() as session:
        rows, total = audit.entries(
            session, action=action, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        entries = [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": r.detail or {},
                "address": r.address,
            }
            for r in rows
        ]
    return AuditPage(entries, total, page, max(1, -(-total // PAGE_SIZE)))
