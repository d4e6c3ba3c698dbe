"""The client registry: idempotent registration, hand edits, and the history of every change.

Registration is an upsert on the normalized client URL under a unique constraint. A second
invitation for the same client adds to its history and refreshes the links, but never overwrites
a field the accountant edited by hand (those are listed in ``Client.edited_fields``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acchub_mailbot.core import clientquery
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store.models import Client, ClientHistory, utcnow

STATUSES = clientquery.STATUSES

#: Fields a person may change with ``clients edit``; the pipeline respects their edits.
EDITABLE_FIELDS = (
    "name",
    "client_url",
    "contact_name",
    "contact_email",
    "phone",
    "notes",
    "access_link",
    "add_client_link",
    "status",
)

#: Fields an invitation may fill or refresh (unless edited by hand).
INVITATION_FIELDS = ("name", "access_link", "add_client_link", "tenant")


@dataclass(frozen=True)
class Registration:
    """The result of registering a client from an invitation."""

    client_id: int
    created: bool
    changed: tuple[str, ...]


class ClientNotFound(NotFound):
    """No client has that ID or URL."""


def find_client(session: Session, ref: str | int) -> Client:
    """A client by numeric ID or by (normalized) client URL."""
    from acchub_mailbot.core.urlrules import normalize_client_url

    client: Client | None = None
    text = str(ref).strip()
    if text.isdigit():
        client = session.get(Client, int(text))
    else:
        url = normalize_client_url(text) or text.rstrip("/")
        client = session.scalar(select(Client).where(Client.client_url == url))
    if client is None:
        raise ClientNotFound(f"no client {text!r}")
    return client


def list_clients(
    session: Session, *, status: str | None = None, include_archived: bool = True
) -> Sequence[Client]:
    query = select(Client).order_by(Client.id)
    if status:
        query = query.where(Client.status == status)
    elif not include_archived:
        query = query.where(Client.status != "archived")
    return session.scalars(query).all()


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Client.status, func.count()).group_by(Client.status)).all()
    return {status: count for status, count in rows}


def _history(
    session: Session,
    client: Client,
    *,
    actor: str,
    action: str,
    changes: Mapping[str, Any],
    message_id: str | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        ClientHistory(
            client=client,
            actor=actor,
            action=action,
            changes=dict(changes),
            message_id=message_id,
            at=at or utcnow(),
        )
    )


def register_invitation(
    session: Session,
    *,
    client_url: str,
    tenant: str | None,
    name: str | None,
    access_link: str | None,
    add_client_link: str | None,
    status: str,
    mailbox: str,
    message_id: str | None,
    actor: str = "pipeline",
    now: datetime | None = None,
) -> Registration:
    """Create the client, or refresh it; safe to call twice for the same invitation."""
    now = now or utcnow()
    incoming = {
        "name": name,
        "access_link": access_link,
        "add_client_link": add_client_link,
        "tenant": tenant,
    }
    existing = session.scalar(select(Client).where(Client.client_url == client_url))
    if existing is None:
        new_id = _insert_if_absent(
            session,
            client_url=client_url,
            status=status,
            mailbox=mailbox,
            source_message_id=message_id,
            created_at=now,
            updated_at=now,
            edited_fields={},
            **incoming,
        )
        if new_id is None:
            # Another transaction registered the same URL between our SELECT and INSERT.
            existing = session.scalar(select(Client).where(Client.client_url == client_url))
            if existing is None:
                raise RuntimeError(f"client {client_url} conflicts on insert but cannot be read")
        else:
            client = session.get_one(Client, new_id)
            _history(
                session,
                client,
                actor=actor,
                action="registered",
                changes={k: v for k, v in incoming.items() if v} | {"status": status},
                message_id=message_id,
                at=now,
            )
            return Registration(client.id, True, tuple(k for k, v in incoming.items() if v))
    edited = set(existing.edited_fields or {})
    changed: dict[str, Any] = {}
    for field, value in incoming.items():
        if value is None or field in edited or getattr(existing, field) == value:
            continue
        changed[field] = {"from": getattr(existing, field), "to": value}
        setattr(existing, field, value)
    if existing.status == "archived" and "status" not in edited:
        # An archived client that invites the accountant again is active again.
        changed["status"] = {"from": "archived", "to": status}
        existing.status = status
    existing.updated_at = now
    _history(
        session,
        existing,
        actor=actor,
        action="invitation_seen_again" if not changed else "refreshed",
        changes=changed,
        message_id=message_id,
        at=now,
    )
    return Registration(existing.id, False, tuple(changed))


def _insert_if_absent(session: Session, **values: Any) -> int | None:
    """Insert a client row unless one has its URL; the new ID, or ``None`` when one had it.

    ``INSERT ... ON CONFLICT DO NOTHING`` rather than a SAVEPOINT around a plain INSERT: the
    pysqlite driver opens no transaction before a SAVEPOINT, so on SQLite releasing the
    savepoint committed the new client on its own, outside the caller's transaction.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(Client)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(Client)
    else:
        raise RuntimeError(f"unsupported database {dialect}: use SQLite or PostgreSQL")
    statement = (
        statement.values(**values)
        .on_conflict_do_nothing(index_elements=[Client.client_url])
        .returning(Client.id)
    )
    new_id: int | None = session.scalar(statement)
    return new_id


def add_client(
    session: Session,
    *,
    client_url: str,
    tenant: str | None,
    fields: Mapping[str, Any],
    status: str,
    actor: str,
) -> Client:
    """New client by hand (the *New* action of *Manage clients*)."""
    if session.scalar(select(Client).where(Client.client_url == client_url)) is not None:
        raise Refused(f"a client with URL {client_url} already exists")
    now = utcnow()
    client = Client(
        client_url=client_url,
        tenant=tenant,
        status=status,
        created_at=now,
        updated_at=now,
        edited_fields={k: True for k, v in fields.items() if v is not None},
        **{k: v for k, v in fields.items() if v is not None},
    )
    session.add(client)
    session.flush()
    _history(
        session,
        client,
        actor=actor,
        action="added_by_hand",
        changes={"client_url": client_url, **{k: v for k, v in fields.items() if v is not None}},
    )
    return client


def edit_client(
    session: Session, client: Client, changes: Mapping[str, Any], *, actor: str
) -> dict[str, Any]:
    """Apply hand edits; each edited field is protected from later invitations."""
    applied: dict[str, Any] = {}
    edited = dict(client.edited_fields or {})
    for field, value in changes.items():
        if field not in EDITABLE_FIELDS:
            raise Refused(f"{field} cannot be edited (editable: {', '.join(EDITABLE_FIELDS)})")
        if field == "status" and value not in STATUSES:
            raise Refused(f"status must be one of {', '.join(STATUSES)}")
        if (
            field == "client_url"
            and value != client.client_url
            and session.scalar(select(Client.id).where(Client.client_url == value)) is not None
        ):
            raise Refused(f"a client with URL {value} already exists")
        old = getattr(client, field)
        if old == value:
            continue
        applied[field] = {"from": old, "to": value}
        setattr(client, field, value)
        edited[field] = True
        if field == "client_url":
            from acchub_mailbot.core.urlrules import check_client_url

            # The tenant is derived from the URL; keep the two in step.
            tenant = check_client_url(value, allow_environment=True).tenant
            if tenant and tenant != client.tenant:
                applied["tenant"] = {"from": client.tenant, "to": tenant}
                client.tenant = tenant
    if applied:
        client.edited_fields = edited
        client.updated_at = utcnow()
        _history(session, client, actor=actor, action="edited", changes=applied)
    return applied


def set_status(
    session: Session,
    client: Client,
    status: str,
    *,
    actor: str,
    reason: str | None = None,
    action: str = "status_changed",
) -> None:
    if client.status == status:
        return
    changes: dict[str, Any] = {"status": {"from": client.status, "to": status}}
    if reason:
        changes["reason"] = reason
    client.status = status
    client.updated_at = utcnow()
    _history(session, client, actor=actor, action=action, changes=changes)


def set_accepted(session: Session, client: Client, *, actor: str) -> bool:
    if client.access_accepted:
        return False
    client.access_accepted = True
    client.updated_at = utcnow()
    _history(
        session,
        client,
        actor=actor,
        action="access_accepted",
        changes={"access_accepted": {"from": False, "to": True}},
    )
    return True


def record_verification(
    session: Session,
    client: Client,
    *,
    outcome: str,
    reason: str,
    at: datetime,
    next_attempt_at: datetime | None,
    actor: str,
) -> None:
    client.verification_outcome = outcome
    client.verification_reason = reason
    client.verified_at = at
    client.next_verification_at = next_attempt_at
    client.verification_attempts = (client.verification_attempts or 0) + 1
    _history(
        session,
        client,
        actor=actor,
        action="url_tested",
        changes={"outcome": outcome, "reason": reason},
        at=at,
    )


def client_as_dict(
    client: Client, *, with_history: bool = False, owners: list[str] | None = None
) -> dict[str, Any]:
    """The stable JSON shape of a client (``clients list --json``, ``clients show --json``)."""
    data: dict[str, Any] = {
        "id": client.id,
        "name": client.name,
        "client_url": client.client_url,
        "tenant": client.tenant,
        "status": client.status,
        "access_link": client.access_link,
        "add_client_link": client.add_client_link,
        "access_accepted": client.access_accepted,
        "contact_name": client.contact_name,
        "contact_email": client.contact_email,
        "phone": client.phone,
        "notes": client.notes,
        "mailbox": client.mailbox,
        "source_message_id": client.source_message_id,
        "edited_fields": sorted(client.edited_fields or {}),
        "owners": owners if owners is not None else [],
        "verification": {
            "outcome": client.verification_outcome,
            "reason": client.verification_reason,
            "checked_at": _iso(client.verified_at),
            "attempts": client.verification_attempts,
        },
        "created_at": _iso(client.created_at),
        "updated_at": _iso(client.updated_at),
    }
    if with_history:
        data["history"] = [
            {
                "at": _iso(h.at),
                "actor": h.actor,
                "action": h.action,
                "changes": h.changes,
                "message_id": h.message_id,
            }
            for h in client.history
        ]
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
