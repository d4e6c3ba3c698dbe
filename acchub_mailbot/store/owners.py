"""A firm's shared mailbox in the database: who owns each client, and the confirmation outbox.

In a firm, every accountant forwards their clients' invitations to one address. Each client
belongs to the accountants who forwarded it (``client_owners``: one row per client and address,
so two accountants forwarding the same invitation make one client with two owners). Each
forwarder gets a short confirmation reply; ``confirmations`` is its outbox, written in the same
transaction that records the forwarded message and unique on that message's row, so a reply is
queued exactly once however often processing is retried, and survives a crash until it is sent.

The two tables are declared in ``models.py`` with the rest of the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import (
    CONFIRMATION_PENDING,
    CONFIRMATION_SENT,
    Client,
    ClientHistory,
    ClientOwner,
    Confirmation,
    utcnow,
)

#: Outbox states of a confirmation.
PENDING = CONFIRMATION_PENDING
SENT = CONFIRMATION_SENT


def normalize_address(address: str) -> str:
    """Owners are compared case-insensitively, as mail providers treat addresses."""
    return address.strip().strip("<>").strip().lower()


def add_owner(
    session: Session,
    client_id: int,
    address: str,
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record ``address`` as an owner of the client; True when it was not one already.

    A new owner is also written into the client's history, so the card shows every forwarder.
    Runs in the caller's transaction (the one that registers the client).
    """
    address = normalize_address(address)
    existing = session.scalar(
        select(ClientOwner.id).where(
            ClientOwner.client_id == client_id, ClientOwner.address == address
        )
    )
    if existing is not None:
        return False
    now = now or utcnow()
    session.add(
        ClientOwner(
            client_id=client_id,
            address=address,
            first_seen_at=now,
            message_id=(message_id or "")[:998] or None,
        )
    )
    session.add(
        ClientHistory(
            client_id=client_id,
            at=now,
            actor=address[:128],
            action="owner_added",
            changes={"owner": address},
            message_id=(message_id or "")[:998] or None,
        )
    )
    session.flush()
    return True


def owners_of(session: Session, client_id: int) -> list[str]:
    """The client's owners, first forwarder first."""
    rows = session.scalars(
        select(ClientOwner.address)
        .where(ClientOwner.client_id == client_id)
        .order_by(ClientOwner.first_seen_at, ClientOwner.id)
    ).all()
    return list(rows)


def owners_by_client(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The owners of many clients in one query, first forwarder first."""
    found: dict[int, list[str]] = {i: [] for i in ids}
    for chunk_start in range(0, len(ids), 900):
        chunk = list(ids[chunk_start : chunk_start + 900])
        rows = session.execute(
            select(ClientOwner.client_id, ClientOwner.address)
            .where(ClientOwner.client_id.in_(chunk))
            .order_by(ClientOwner.first_seen_at, ClientOwner.id)
        ).all()
        for client_id, address in rows:
            found[client_id].append(address)
    return found


def clients_of_owner(session: Session, address: str) -> Sequence[Client]:
    """The clients ``address`` owns (``clients list --owner``), oldest first."""
    return session.scalars(
        select(Client)
        .join(ClientOwner, ClientOwner.client_id == Client.id)
        .where(ClientOwner.address == normalize_address(address))
        .order_by(Client.id)
    ).all()


def recent_confirmations(session: Session, to_address: str, since: datetime) -> int:
    """How many confirmations were queued for ``to_address`` since ``since`` (the rate limit
    counts queued ones too: a burst must not slip through while they wait to be sent)."""
    count = session.scalar(
        select(func.count(Confirmation.id)).where(
            Confirmation.to_address == normalize_address(to_address),
            Confirmation.created_at >= since,
        )
    )
    return int(count or 0)


def enqueue_confirmation(
    session: Session,
    *,
    mailbox: str,
    to_address: str,
    message_row_id: int,
    message_id: str,
    kind: str,
    subject: str,
    text: str,
    html: str,
    in_reply_to: str | None,
    references: str | None,
    now: datetime | None = None,
) -> tuple[Confirmation, bool]:
    """Queue the reply to one forwarded message; ``(row, created)``.

    Idempotent on ``message_row_id``: a retried message finds its reply already queued (or sent)
    and nothing is added. The unique constraint backs this up should two writers ever race; the
    mailbox lease normally makes the poller the only one.
    """
    existing = session.scalar(
        select(Confirmation).where(Confirmation.message_row_id == message_row_id)
    )
    if existing is not None:
        return existing, False
    row = Confirmation(
        mailbox=mailbox,
        to_address=normalize_address(to_address),
        message_row_id=message_row_id,
        message_id=message_id[:998],
        kind=kind,
        subject=subject,
        text=text,
        html=html,
        in_reply_to=(in_reply_to or "")[:998] or None,
        references=references or None,
        status=PENDING,
        attempts=0,
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row, True


def pending_confirmations(
    session: Session, now: datetime, *, ignore_backoff: bool = False
) -> Sequence[Confirmation]:
    """Confirmations still to send, oldest first; those backing off after a failure wait."""
    query = select(Confirmation).where(Confirmation.status == PENDING).order_by(Confirmation.id)
    if not ignore_backoff:
        query = query.where(
            Confirmation.next_attempt_at.is_(None) | (Confirmation.next_attempt_at <= now)
        )
    return session.scalars(query).all()


def mark_confirmation_sent(session: Session, confirmation_id: int, now: datetime) -> None:
    """Record a successful send, so the reply is never sent again."""
    row = session.get(Confirmation, confirmation_id)
    if row is not None:
        row.status = SENT
        row.sent_at = now
        row.attempts = (row.attempts or 0) + 1
        row.last_error = None


def mark_confirmation_failed(
    session: Session, confirmation_id: int, error: str, retry_at: datetime
) -> None:
    """Record a failed send; the reply stays pending and is retried from ``retry_at``."""
    row = session.get(Confirmation, confirmation_id)
    if row is not None:
        row.attempts = (row.attempts or 0) + 1
        row.last_error = error[:2000]
        row.next_attempt_at = retry_at


__all__ = [
    "PENDING",
    "SENT",
    "ClientOwner",
    "Confirmation",
    "add_owner",
    "clients_of_owner",
    "enqueue_confirmation",
    "mark_confirmation_failed",
    "mark_confirmation_sent",
    "normalize_address",
    "owners_of",
    "pending_confirmations",
    "recent_confirmations",
]
