"""Client owners and the confirmation outbox on a real database.

Runs on SQLite by default and on PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.store import owners
from acchub_mailbot.store.models import (
    ClientHistory,
    ClientOwner,
    Confirmation,
    ProcessedMessage,
)
from acchub_mailbot.store.registry import register_invitation

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
KESTREL = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com"
OSPREY = "https://businesscentral.dynamics.com/osprey.onmicrosoft.com"


def client(session: Session, url: str = KESTREL) -> int:
    result = register_invitation(
        session,
        client_url=url,
        tenant=url.rsplit("/", 1)[1],
        name="Kestrel Joinery",
        access_link=f"{url}?redirectedfromsignup=1",
        add_client_link=None,
        status="registered",
        mailbox="invites",
        message_id="<inv@kestrel.example>",
        now=NOW,
    )
    return result.client_id


def message_row(session: Session, uid: int) -> int:
    row = ProcessedMessage(mailbox="invites", folder="INBOX", uidvalidity=1, uid=uid)
    session.add(row)
    session.flush()
    return row.id


def enqueue(session: Session, row_id: int, to: str = "alice@firm.example", **kw: object) -> bool:
    values: dict[str, object] = {
        "mailbox": "invites",
        "to_address": to,
        "message_row_id": row_id,
        "message_id": f"<{row_id}.acchub-confirm@firm.example>",
        "kind": "registered",
        "subject": "Registered: Kestrel Joinery",
        "text": "text",
        "html": "<p>html</p>",
        "in_reply_to": "<fwd@firm.example>",
        "references": "<fwd@firm.example>",
        "now": NOW,
    }
    values.update(kw)
    _row, created = owners.enqueue_confirmation(session, **values)  # type: ignore[arg-type]
    return created


def test_two_forwarders_make_one_client_with_two_owners(sessions: sessionmaker[Session]) -> None:
    """Owners accumulate per client, are unique per address and are written into the history."""
    with sessions.begin() as session:
        client_id = client(session)
        assert owners.add_owner(
            session, client_id, "Alice@Firm.example", message_id="<a@x>", now=NOW
        )
        later = NOW + timedelta(minutes=5)
        assert owners.add_owner(
            session, client_id, "bob@firm.example", message_id="<b@x>", now=later
        )
        assert not owners.add_owner(session, client_id, "alice@firm.example", now=later)
    with sessions() as session:
        assert owners.owners_of(session, client_id) == [
            "alice@firm.example",
            "bob@firm.example",
        ]
        actions = session.scalars(
            select(ClientHistory.actor).where(
                ClientHistory.client_id == client_id, ClientHistory.action == "owner_added"
            )
        ).all()
        assert sorted(actions) == ["alice@firm.example", "bob@firm.example"]


def test_clients_of_owner_lists_only_that_owners_clients(sessions: sessionmaker[Session]) -> None:
    """``clients list --owner`` sees the clients an address owns, compared case-insensitively."""
    with sessions.begin() as session:
        kestrel, osprey = client(session, KESTREL), client(session, OSPREY)
        owners.add_owner(session, kestrel, "alice@firm.example", now=NOW)
        owners.add_owner(session, osprey, "bob@firm.example", now=NOW)
        owners.add_owner(session, osprey, "alice@firm.example", now=NOW)
    with sessions() as session:
        assert [c.id for c in owners.clients_of_owner(session, "ALICE@firm.example")] == [
            kestrel,
            osprey,
        ]
        assert [c.id for c in owners.clients_of_owner(session, "bob@firm.example")] == [osprey]
        assert list(owners.clients_of_owner(session, "carol@firm.example")) == []


def test_database_refuses_a_duplicate_owner(sessions: sessionmaker[Session]) -> None:
    """The unique (client_id, address) constraint backs up add_owner's check."""
    with sessions.begin() as session:
        client_id = client(session)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        for _ in range(2):
            session.add(ClientOwner(client_id=client_id, address="a@firm.example"))
            session.flush()


def test_confirmation_is_queued_once_per_forwarded_message(
    sessions: sessionmaker[Session],
) -> None:
    """A retried message finds its reply already queued; the first copy is kept unchanged."""
    with sessions.begin() as session:
        row_id = message_row(session, 1)
        assert enqueue(session, row_id)
    with sessions.begin() as session:
        assert not enqueue(session, row_id, subject="a second rendering")
    with sessions() as session:
        pending = owners.pending_confirmations(session, NOW)
        assert [(c.message_row_id, c.subject) for c in pending] == [
            (row_id, "Registered: Kestrel Joinery")
        ]
        assert pending[0].to_address == "alice@firm.example"
        assert pending[0].references == "<fwd@firm.example>"


def test_database_refuses_a_second_confirmation_for_one_message(
    sessions: sessionmaker[Session],
) -> None:
    """The unique message_row_id holds even for a writer that skips the helper's check."""
    with sessions.begin() as session:
        row_id = message_row(session, 1)
        enqueue(session, row_id)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(
            Confirmation(
                mailbox="invites",
                to_address="alice@firm.example",
                message_row_id=row_id,
                message_id="<other@firm.example>",
                kind="registered",
                subject="s",
                text="t",
                html="h",
            )
        )


def test_recent_confirmations_count_per_address_and_window(
    sessions: sessionmaker[Session],
) -> None:
    """The rate limit counts one address's replies queued since the given time, sent or not."""
    with sessions.begin() as session:
        queued = [
            ("alice@firm.example", 90),
            ("alice@firm.example", 30),
            ("ALICE@firm.example", 5),
            ("bob@firm.example", 5),
        ]
        for uid, (to, minutes_ago) in enumerate(queued, start=1):
            enqueue(
                session, message_row(session, uid), to, now=NOW - timedelta(minutes=minutes_ago)
            )
        owners.mark_confirmation_sent(session, 2, NOW)
    with sessions() as session:
        since = NOW - timedelta(hours=1)
        assert owners.recent_confirmations(session, "alice@firm.example", since) == 2
        assert owners.recent_confirmations(session, "bob@firm.example", since) == 1
        assert owners.recent_confirmations(session, "carol@firm.example", since) == 0


def test_sent_and_backing_off_confirmations_are_not_pending(
    sessions: sessionmaker[Session],
) -> None:
    """A sent reply never comes back; a failed one waits for its retry time."""
    with sessions.begin() as session:
        first, second = (enqueue(session, message_row(session, uid)) for uid in (1, 2))
        assert first and second
        rows = owners.pending_confirmations(session, NOW)
        owners.mark_confirmation_sent(session, rows[0].id, NOW)
        owners.mark_confirmation_failed(
            session, rows[1].id, "SMTP down", NOW + timedelta(minutes=5)
        )
        sent_id, failed_id = rows[0].id, rows[1].id
    with sessions() as session:
        assert list(owners.pending_confirmations(session, NOW)) == []
        later = owners.pending_confirmations(session, NOW + timedelta(minutes=5))
        assert [c.id for c in later] == [failed_id]
        assert [c.id for c in owners.pending_confirmations(session, NOW, ignore_backoff=True)] == [
            failed_id
        ]
        sent = session.get(Confirmation, sent_id)
        assert sent is not None and sent.status == owners.SENT and sent.sent_at == NOW
        failed = session.get(Confirmation, failed_id)
        assert failed is not None and failed.attempts == 1 and failed.last_error == "SMTP down"
