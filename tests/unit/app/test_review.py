"""*Needs attention*'s use cases: who sees which item, register anyway and dismiss with their
comments in the history and the audit log, and retry as a row the poller picks up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from acchub_mailbot.app import cards, review
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store import registry
from acchub_mailbot.store.models import AuditEntry, ClientHistory, ProcessedMessage
from tests.unit.app.dashboard_world import ADMIN, ALEX, SAM, open_world

HELD_URL = "https://businesscentral.dynamics.com/northwind.onmicrosoft.com"


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[App, dict[str, int]]]:
    for app, ids in open_world(database_url):
        with app.sessions.begin() as session:
            client = registry.find_client(session, ids[ALEX.email])
            registry.set_status(session, client, "needs_review", actor="test", reason="odd")
            rows = [
                ProcessedMessage(
                    mailbox="invites", folder="INBOX", uidvalidity=1, uid=1, sender=ALEX.email,
                    subject="Invitation", state="done", verdict="needs_review",
                    reasons={"reasons": ["tenant never seen"], "candidate": {
                        "client_url": HELD_URL, "company_name": "Northwind",
                        "access_link": HELD_URL + "?signupcode=N1"}},
                ),
                ProcessedMessage(
                    mailbox="invites", folder="INBOX", uidvalidity=1, uid=2, sender=SAM.email,
                    subject="Look-alike", state="done", verdict="rejected",
                    reasons={"reasons": ["host is not Microsoft's"], "candidate": {
                        "rejected_url": "https://businesscentral.dynamics.com.evil.example/x"}},
                ),
                ProcessedMessage(
                    mailbox="invites", folder="INBOX", uidvalidity=1, uid=3, sender=ALEX.email,
                    subject="Broken", state="quarantined", last_error="boom", attempts=5,
                ),
            ]  # fmt: skip
            session.add_all(rows)
            session.flush()
            ids.update(held=rows[0].id, lookalike=rows[1].id, broken=rows[2].id)
        yield app, ids


def test_each_accountant_sees_their_own_forwards_and_an_admin_sees_all(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    alex, sam, admin = (review.attention(app, p) for p in (ALEX, SAM, ADMIN))
    assert [c["id"] for c in alex.clients] == [ids[ALEX.email]] and sam.clients == []
    assert [m["id"] for m in alex.messages] == [ids["held"]]
    assert [m["id"] for m in sam.messages] == [ids["lookalike"]]
    assert [f["id"] for f in alex.failed] == [ids["broken"]] and sam.failed == []
    assert (admin.count, alex.count, sam.count) == (4, 3, 1)
    (lookalike,) = sam.messages
    assert lookalike["rejected_url"] is not None and "https://" not in lookalike["rejected_url"]
    assert lookalike["can_register"] is False


def test_register_anyway_needs_a_comment_and_writes_history_and_audit(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    with pytest.raises(Refused, match="comment"):
        review.register_anyway(app, ALEX, review.MESSAGE, ids["held"], "   ")
    made = review.register_anyway(app, ALEX, review.MESSAGE, ids["held"], "called the client")
    card = cards.card(app, ALEX, str(made))
    assert card["client_url"] == HELD_URL and card["owners"] == [ALEX.email]
    assert card["name"] == "Northwind" and "N1" not in repr(card)
    assert ids["held"] not in [m["id"] for m in review.attention(app, ALEX).messages]
    with pytest.raises(Refused, match="already decided"):
        review.dismiss(app, ALEX, review.MESSAGE, ids["held"], "twice")
    client_id = review.register_anyway(app, ALEX, review.CLIENT, ids[ALEX.email], "checked")
    assert cards.card(app, ALEX, str(client_id))["status"] == "registered"
    with app.sessions() as session:
        reasons = session.scalars(
            select(ClientHistory.changes).where(ClientHistory.action == "registered_anyway")
        ).all()
        decided = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "registered_anyway")
        ).all()
    assert any("checked" in str(r) for r in reasons)
    assert decided == [f"message {ids['held']}", f"client {ids[ALEX.email]}"]


def test_nobody_decides_on_anothers_item_and_a_look_alike_is_not_registered(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    for call in (
        lambda: review.register_anyway(app, SAM, review.MESSAGE, ids["held"], "mine"),
        lambda: review.dismiss(app, SAM, review.CLIENT, ids[ALEX.email], "mine"),
        lambda: review.retry(app, SAM, ids["broken"]),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(Refused, match="no client URL"):
        review.register_anyway(app, SAM, review.MESSAGE, ids["lookalike"], "looks fine")
    review.dismiss(app, SAM, review.MESSAGE, ids["lookalike"], "phishing, reported")
    assert review.attention(app, SAM).count == 0
    assert review.attention(app, ALEX).count == 3  # Alex's items untouched


def test_retry_is_a_row_state_for_the_poller(world: tuple[App, dict[str, int]]) -> None:
    app, ids = world
    review.retry(app, ALEX, ids["broken"])
    with app.sessions() as session:
        row = session.get(ProcessedMessage, ids["broken"])
        assert row is not None and row.state in ("failed", "retry_requested") and row.attempts == 0
    with pytest.raises(Refused):
        review.retry(app, ALEX, ids["held"])  # not a failed message
