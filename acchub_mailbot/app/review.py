"""*Needs attention* as use cases: what waits for a person, and their decisions on it.

Three kinds of thing wait: a client whose live test left it ``needs_review``, a message the
detector held for review or rejected as a look-alike, and a message that could not be processed
(failed or quarantined). An accountant sees those of their own forwards; an admin sees all.
"Register anyway" and "dismiss" need a comment, write the client's history and the audit log,
and take the item off the list. A retry is a row state the poller picks up: this never polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from acchub_mailbot.app import access, audit, clients
from acchub_mailbot.app.access import Viewer
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.clientquery import ClientQuery
from acchub_mailbot.core.roles import ADMIN
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.report.safetext import defang, defang_text
from acchub_mailbot.store import owners, processed, registry
from acchub_mailbot.store.models import ProcessedMessage, utcnow

CLIENT = "client"
MESSAGE = "message"
LIMIT = 200


@dataclass(frozen=True)
class Attention:
    clients: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    @property
    def count(self) -> int:
        return len(self.clients) + len(self.messages) + len(self.failed)


def _sender_filter(viewer: Viewer) -> str | None:
    return None if viewer.role == ADMIN else viewer.email


def _message_item(row: ProcessedMessage) -> dict[str, Any]:
    reasons = row.reasons or {}
    candidate = reasons.get("candidate") or {}
    rejected = candidate.get("rejected_url")
    return {
        "id": row.id,
        "mailbox": row.mailbox,
        "verdict": row.verdict,
        "subject": row.subject,
        "sender": row.sender,
        "received_at": row.created_at.isoformat(),
        "reasons": [defang_text(r) for r in reasons.get("reasons") or []],
        "client_url": candidate.get("client_url"),
        "company_name": candidate.get("company_name"),
        # A look-alike's link is shown defanged: readable, never clickable.
        "rejected_url": defang(rejected) if rejected else None,
        "can_register": row.verdict == "needs_review" and bool(candidate.get("client_url")),
    }


def attention(app: App, viewer: Viewer) -> Attention:
    """Everything waiting for this viewer, oldest problems last."""
    review = access.clients_for(app, viewer, ClientQuery(status="needs_review", per_page=LIMIT))
    sender = _sender_filter(viewer)
    with app.sessions() as session:
        messages = [
            _message_item(r) for r in processed.awaiting_review(session, sender=sender, limit=LIMIT)
        ]
        failed = [
            {
                "id": r.id, "mailbox": r.mailbox, "state": r.state, "subject": r.subject,
                "sender": r.sender, "attempts": r.attempts, "last_error": r.last_error,
            }
            for r in processed.failed_messages(session)
            if sender is None or (r.sender or "").lower() == sender
        ][:LIMIT]  # fmt: skip
    return Attention(review.items, messages, failed)


def _message_for(session: Session, viewer: Viewer, message_id: int) -> ProcessedMessage:
    row = session.get(ProcessedMessage, message_id)
    sender = _sender_filter(viewer)
    if row is None or (sender is not None and (row.sender or "").lower() != sender):
        raise NotFound(f"no message {message_id}")
    return row


def _comment(comment: str) -> str:
    text = " ".join(comment.split())[:500]
    if not text:
        raise Refused("say why in the comment: it goes into the client's history")
    return text


def _close(row: ProcessedMessage, viewer: Viewer, decision: str, comment: str) -> None:
    if (row.reasons or {}).get("review"):
        raise Refused(f"message {row.id} was already decided on")
    review = {"decision": decision, "by": viewer.email, "comment": comment,
              "at": utcnow().isoformat()}  # fmt: skip
    row.reasons = {**(row.reasons or {}), "review": review}


def register_anyway(
    app: App, viewer: Viewer, kind: str, ident: int, comment: str, *, address: str | None = None
) -> int:
    """Register what the detector or the live test held back; returns the client's ID."""
    text = _comment(comment)
    if kind == CLIENT:
        found = access.client_for(app, viewer, str(ident))
        if found["status"] != "needs_review":
            raise Refused(f"client {ident} does not need review (it is {found['status']})")
        with app.sessions.begin() as session:
            client = registry.find_client(session, ident)
            registry.set_status(
                session, client, "registered", actor=viewer.email, reason=text,
                action="registered_anyway",
            )  # fmt: skip
        client_id = int(found["id"])
    elif kind == MESSAGE:
        with app.sessions() as session:
            held = _message_for(session, viewer, ident)
            item, reasons = _message_item(held), dict(held.reasons or {})
        if not item["can_register"]:
            raise Refused(f"message {ident} holds no client URL to register; use New client")
        candidate = reasons.get("candidate") or {}
        fields = {
            "name": candidate.get("company_name"),
            "access_link": candidate.get("access_link"),
            "add_client_link": candidate.get("add_client_link"),
        }
        made = clients.add_client(
            app, url=candidate["client_url"], fields=fields, actor=viewer.email
        )
        client_id = int(made["id"])
        forwarder = reasons.get("forwarder") or item["sender"]
        with app.sessions.begin() as session:
            row = _message_for(session, viewer, ident)
            _close(row, viewer, "registered", text)
            row.client_id = client_id
            if forwarder:
                owners.add_owner(session, client_id, forwarder, message_id=row.message_id)
    else:
        raise Refused(f"kind must be {CLIENT} or {MESSAGE}")
    audit.record(
        app, viewer.email, audit.REGISTERED_ANYWAY, target=f"{kind} {ident}",
        detail={"comment": text, "client": client_id}, address=address,
    )  # fmt: skip
    return client_id


def dismiss(
    app: App, viewer: Viewer, kind: str, ident: int, comment: str, *, address: str | None = None
) -> None:
    """Take an item off the list without registering it: a client is archived."""
    text = _comment(comment)
    if kind == CLIENT:
        found = access.client_for(app, viewer, str(ident))
        with app.sessions.begin() as session:
            client = registry.find_client(session, found["id"])
            registry.set_status(
                session, client, "archived", actor=viewer.email, reason=text, action="dismissed"
            )
    elif kind == MESSAGE:
        with app.sessions.begin() as session:
            _close(_message_for(session, viewer, ident), viewer, "dismissed", text)
    else:
        raise Refused(f"kind must be {CLIENT} or {MESSAGE}")
    audit.record(
        app, viewer.email, audit.DISMISSED, target=f"{kind} {ident}", detail={"comment": text},
        address=address,
    )  # fmt: skip


def retry(app: App, viewer: Viewer, message_id: int, *, address: str | None = None) -> None:
    """Put a failed or quarantined message back for the poller's next pass."""
    with app.sessions.begin() as session:
        row = _message_for(session, viewer, message_id)
        if row.state not in processed.FAILED_STATES:
            raise Refused(f"message {message_id} is not waiting for a retry")
        processed.request_retry(session, [message_id])
    audit.record(
        app, viewer.email, audit.RETRY_REQUESTED, target=f"message {message_id}", address=address
    )
