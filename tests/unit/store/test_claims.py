"""Claims on outgoing mail over a real SQLite database: one winner, and dead claimers' rows back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.store import claims
from acchub_mailbot.store.database import make_engine, migrate, session_factory
from acchub_mailbot.store.models import Digest, utcnow


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'acchub.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _digest(sessions: sessionmaker[Session], n: int = 1) -> int:
    with sessions.begin() as session:
        row = Digest(
            mailbox="invites",
            message_id=f"<d{n}@x>",
            recipients={"to": ["a@x"]},
            subject="s",
            text_body="t",
            html_body="h",
        )
        session.add(row)
        session.flush()
        return row.id


def test_of_many_concurrent_claimers_exactly_one_wins(sessions: sessionmaker[Session]) -> None:
    digest_id = _digest(sessions)
    winners: list[str] = []
    start = threading.Barrier(8)

    def contend(name: str) -> None:
        start.wait()
        with sessions.begin() as session:
            if claims.claim(session, Digest, digest_id, name, utcnow()):
                winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"i{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    with sessions() as session:
        row = session.get(Digest, digest_id)
        assert row is not None and row.status == claims.SENDING and row.claimed_by == winners[0]


def test_only_the_claimer_marks_it_sent(sessions: sessionmaker[Session]) -> None:
    digest_id = _digest(sessions)
    now = utcnow()
    with sessions.begin() as session:
        assert claims.claim(session, Digest, digest_id, "a", now)
        assert not claims.mark_sent(session, Digest, digest_id, "b", now)
        assert claims.mark_sent(session, Digest, digest_id, "a", now)
        assert not claims.claim(session, Digest, digest_id, "b", now + timedelta(days=1))
    with sessions() as session:
        assert claims.claimable(session, Digest, now + timedelta(days=1)) == []


def test_a_claim_is_taken_back_after_its_deadline_or_when_its_holder_is_gone(
    sessions: sessionmaker[Session],
) -> None:
    digest_id = _digest(sessions)
    now = utcnow()
    with sessions.begin() as session:
        assert claims.claim(session, Digest, digest_id, "dead", now)
        assert not claims.claim(session, Digest, digest_id, "b", now + timedelta(seconds=10))
        assert claims.claim(session, Digest, digest_id, "b", now, dead={"dead"})
        later = now + timedelta(seconds=claims.CLAIM_SECONDS + 1)
        assert claims.claimable(session, Digest, later) == [digest_id]
        assert claims.claim(session, Digest, digest_id, "c", later)


def test_a_failed_send_goes_back_to_pending_after_its_backoff(
    sessions: sessionmaker[Session],
) -> None:
    digest_id = _digest(sessions)
    now = utcnow()
    with sessions.begin() as session:
        assert claims.claim(session, Digest, digest_id, "a", now)
        claims.mark_failed(session, Digest, digest_id, "a", "refused", now + timedelta(minutes=1))
        assert claims.claimable(session, Digest, now) == []
        assert claims.claimable(session, Digest, now, ignore_backoff=True) == [digest_id]
        assert claims.claimable(session, Digest, now + timedelta(minutes=2)) == [digest_id]
    with sessions() as session:
        row = session.get(Digest, digest_id)
        assert row is not None and row.attempts == 1 and row.last_error == "refused"


def test_held_back_counts_failed_mail_until_it_is_sent(sessions: sessionmaker[Session]) -> None:
    first, second, fresh = _digest(sessions, 1), _digest(sessions, 2), _digest(sessions, 3)
    with sessions() as session:
        assert claims.held_back(session) == claims.HeldBack(0, 0, None, None)
    later = utcnow() + timedelta(minutes=5)
    for row_id, error in ((first, "535 older"), (second, "535 token refused")):
        with sessions.begin() as session:
            assert claims.claim(session, Digest, row_id, "me", utcnow())
            claims.mark_failed(session, Digest, row_id, "me", error, later)
        later += timedelta(minutes=1)
    with sessions() as session:
        held = claims.held_back(session)
        created = session.get(Digest, first)
        assert created is not None
    # The never-tried digest is only pending, not held back; the newest retry's error shows.
    assert (held.digests, held.confirmations, held.last_error) == (2, 0, "535 token refused")
    assert held.since == created.created_at
    for row_id in (first, second, fresh):
        with sessions.begin() as session:
            assert claims.claim(session, Digest, row_id, "me", utcnow(), ignore_backoff=True)
            assert claims.mark_sent(session, Digest, row_id, "me", utcnow())
    with sessions() as session:
        assert claims.held_back(session).digests == 0
