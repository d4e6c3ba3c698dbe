"""The client registry on a real database: idempotent registration, hand edits, history.

Runs on SQLite by default and on PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.store import registry
from acchub_mailbot.store.database import alembic_config, make_engine, migrate, session_factory
from acchub_mailbot.store.models import Client, ClientHistory

URL = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"
TENANT = "contoso.onmicrosoft.com"
ACCESS_1 = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signup=1&token=one"
ACCESS_2 = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signup=1&token=two"
HUB_1 = "https://accountants.dynamics.com/?page=21&invite=one"
HUB_2 = "https://accountants.dynamics.com/?page=21&invite=two"


def register(session: Session, **overrides: Any) -> registry.Registration:
    values: dict[str, Any] = {
        "client_url": URL,
        "tenant": TENANT,
        "name": "Contoso Ltd",
        "access_link": ACCESS_1,
        "add_client_link": HUB_1,
        "status": "registered",
        "mailbox": "invites",
        "message_id": "<first@contoso.example>",
    }
    values.update(overrides)
    return registry.register_invitation(session, **values)


def load(sessions: sessionmaker[Session], ref: str | int = URL) -> dict[str, Any]:
    """The client as stored, read in a fresh session (nothing from an identity map)."""
    with sessions() as session:
        return registry.client_as_dict(registry.find_client(session, ref), with_history=True)


def count_clients(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Client)).all())


def test_same_invitation_twice_gives_one_client_with_both_messages_in_history(
    sessions: sessionmaker[Session],
) -> None:
    """Registering the same invitation twice keeps one client and records both messages."""
    with sessions.begin() as session:
        first = register(session)
    with sessions.begin() as session:
        second = register(session, message_id="<again@contoso.example>")
    assert first.created is True
    assert set(first.changed) == {"name", "access_link", "add_client_link", "tenant"}
    assert second == registry.Registration(first.client_id, False, ())
    assert count_clients(sessions) == 1
    data = load(sessions)
    assert [(h["action"], h["message_id"]) for h in data["history"]] == [
        ("registered", "<first@contoso.example>"),
        ("invitation_seen_again", "<again@contoso.example>"),
    ]
    assert data["source_message_id"] == "<first@contoso.example>"
    assert data["name"] == "Contoso Ltd"


def test_new_links_for_the_same_client_refresh_the_card(sessions: sessionmaker[Session]) -> None:
    """A later invitation with new links updates the one client and logs what changed."""
    with sessions.begin() as session:
        register(session)
    with sessions.begin() as session:
        result = register(
            session, access_link=ACCESS_2, add_client_link=HUB_2, message_id="<second@x>"
        )
    assert result.created is False
    assert set(result.changed) == {"access_link", "add_client_link"}
    assert count_clients(sessions) == 1
    data = load(sessions)
    assert data["access_link"] == ACCESS_2
    assert data["add_client_link"] == HUB_2
    refreshed = data["history"][-1]
    assert refreshed["action"] == "refreshed"
    assert refreshed["message_id"] == "<second@x>"
    assert refreshed["changes"]["access_link"] == {"from": ACCESS_1, "to": ACCESS_2}


def test_invitation_without_a_value_keeps_the_stored_one(sessions: sessionmaker[Session]) -> None:
    """A later invitation that lacks a name or link does not blank the stored value."""
    with sessions.begin() as session:
        register(session)
    with sessions.begin() as session:
        register(session, name=None, access_link=None, message_id="<bare@x>")
    data = load(sessions)
    assert data["name"] == "Contoso Ltd"
    assert data["access_link"] == ACCESS_1


def test_hand_edited_name_survives_while_links_still_refresh(
    sessions: sessionmaker[Session],
) -> None:
    """A name edited by hand is never overwritten; unedited links keep refreshing."""
    with sessions.begin() as session:
        register(session)
    with sessions.begin() as session:
        client = registry.find_client(session, URL)
        applied = registry.edit_client(session, client, {"name": "Contoso (Paris)"}, actor="amy")
    assert applied == {"name": {"from": "Contoso Ltd", "to": "Contoso (Paris)"}}
    with sessions.begin() as session:
        result = register(
            session, name="CONTOSO LIMITED", access_link=ACCESS_2, message_id="<third@x>"
        )
    assert result.changed == ("access_link",)
    data = load(sessions)
    assert data["name"] == "Contoso (Paris)"
    assert data["access_link"] == ACCESS_2
    assert data["edited_fields"] == ["name"]
    assert [h["action"] for h in data["history"]] == ["registered", "edited", "refreshed"]
    assert data["history"][1]["actor"] == "amy"


def test_archived_client_is_revived_by_a_new_invitation(sessions: sessionmaker[Session]) -> None:
    """An archived client that invites the accountant again becomes active again."""
    with sessions.begin() as session:
        register(session)
    with sessions.begin() as session:
        client = registry.find_client(session, URL)
        registry.set_status(session, client, "archived", actor="cli", action="archived")
    assert load(sessions)["status"] == "archived"
    with sessions.begin() as session:
        result = register(session, status="pending_verification", message_id="<back@x>")
    assert "status" in result.changed
    data = load(sessions)
    assert data["status"] == "pending_verification"
    assert data["history"][-1]["changes"]["status"] == {
        "from": "archived",
        "to": "pending_verification",
    }


def test_a_repeat_invitation_does_not_change_an_active_status(
    sessions: sessionmaker[Session],
) -> None:
    """Seeing the invitation again leaves a client's review status as it is."""
    with sessions.begin() as session:
        register(session)
        registry.set_status(
            session, registry.find_client(session, URL), "needs_review", actor="pipeline"
        )
    with sessions.begin() as session:
        register(session, message_id="<again@x>")
    assert load(sessions)["status"] == "needs_review"


def test_rolled_back_registration_leaves_nothing_behind(sessions: sessionmaker[Session]) -> None:
    """A registration is part of the caller's transaction: a rollback removes it entirely."""
    with sessions() as session:
        register(session)
        session.rollback()
    assert count_clients(sessions) == 0
    with sessions() as session:
        assert session.scalars(select(ClientHistory)).all() == []


def test_registration_that_loses_a_race_becomes_an_update(
    database_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """When another poller inserts the same URL between our SELECT and INSERT, ours updates."""
    other_engine = make_engine(database_url)
    other_sessions = session_factory(other_engine)
    raced: list[str] = []

    def insert_first_elsewhere(
        conn: Any, cursor: Any, statement: str, *args: Any, **kwargs: Any
    ) -> None:
        # Fires on our connection just before it sends the INSERT: the other poller wins.
        if not raced and re.match(r"\s*INSERT INTO clients\b", statement, re.IGNORECASE):
            raced.append(statement)
            with other_sessions.begin() as other:
                register(other, access_link=ACCESS_2, message_id="<other-poller@x>")

    event.listen(engine, "before_cursor_execute", insert_first_elsewhere)
    try:
        with sessions.begin() as session:
            result = register(session, message_id="<this-poller@x>")
    finally:
        event.remove(engine, "before_cursor_execute", insert_first_elsewhere)
        other_engine.dispose()

    assert raced, "the INSERT of the client was never attempted"
    assert result.created is False
    assert result.changed == ("access_link",)
    assert count_clients(sessions) == 1
    data = load(sessions)
    assert result.client_id == data["id"]
    assert data["access_link"] == ACCESS_1
    assert [(h["action"], h["message_id"]) for h in data["history"]] == [
        ("registered", "<other-poller@x>"),
        ("refreshed", "<this-poller@x>"),
    ]


def test_the_database_refuses_a_second_row_with_the_same_url(
    sessions: sessionmaker[Session],
) -> None:
    """The unique constraint on client_url holds even for code that bypasses the registry."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        register(session)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Client(client_url=URL, status="registered", created_at=now, updated_at=now))
    assert count_clients(sessions) == 1


def test_add_client_refuses_a_duplicate_url(sessions: sessionmaker[Session]) -> None:
    """A client added by hand cannot share its URL with an existing client."""
    with sessions.begin() as session:
        register(session)
    with pytest.raises(ValueError, match="already exists"), sessions.begin() as session:
        registry.add_client(
            session,
            client_url=URL,
            tenant=TENANT,
            fields={"name": "Copy"},
            status="registered",
            actor="cli",
        )
    assert count_clients(sessions) == 1
    assert load(sessions)["name"] == "Contoso Ltd"


def test_fields_given_when_adding_by_hand_are_protected(sessions: sessionmaker[Session]) -> None:
    """Values typed in when adding a client by hand count as hand edits."""
    with sessions.begin() as session:
        client = registry.add_client(
            session,
            client_url=URL,
            tenant=TENANT,
            fields={"name": "Contoso (typed)", "notes": "call first", "phone": None},
            status="registered",
            actor="cli",
        )
        assert client.id is not None
    with sessions.begin() as session:
        result = register(session, name="Contoso Ltd")
    assert "name" not in result.changed
    data = load(sessions)
    assert data["name"] == "Contoso (typed)"
    assert data["access_link"] == ACCESS_1
    assert data["edited_fields"] == ["name", "notes"]
    assert data["history"][0]["action"] == "added_by_hand"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenant": "evil.example"}, "tenant cannot be edited"),
        ({"edited_fields": {}}, "edited_fields cannot be edited"),
        ({"id": 99}, "id cannot be edited"),
        ({"status": "deleted"}, "status must be one of"),
    ],
)
def test_edit_client_refuses_unknown_fields_and_bad_statuses(
    sessions: sessionmaker[Session], changes: dict[str, Any], message: str
) -> None:
    """Only the editable fields and the known statuses are accepted; nothing is applied."""
    with sessions.begin() as session:
        register(session)
    with pytest.raises(ValueError, match=message), sessions.begin() as session:
        registry.edit_client(session, registry.find_client(session, URL), changes, actor="cli")
    data = load(sessions)
    assert data["tenant"] == TENANT
    assert data["status"] == "registered"
    assert data["edited_fields"] == []
    assert [h["action"] for h in data["history"]] == ["registered"]


def test_edit_without_a_real_change_records_nothing(sessions: sessionmaker[Session]) -> None:
    """Setting a field to its current value is not an edit and protects nothing."""
    with sessions.begin() as session:
        register(session)
    with sessions.begin() as session:
        client = registry.find_client(session, URL)
        assert registry.edit_client(session, client, {"name": "Contoso Ltd"}, actor="cli") == {}
    data = load(sessions)
    assert data["edited_fields"] == []
    assert len(data["history"]) == 1


@pytest.mark.parametrize(
    "ref",
    [
        URL,
        URL + "/",
        "https://businesscentral.dynamics.com/CONTOSO.onmicrosoft.com",
        "https://BusinessCentral.Dynamics.com/Contoso.OnMicrosoft.com/",
        URL + "?redirectedfromsignup=1",
        "  " + URL + "  ",
    ],
)
def test_find_client_by_url_in_any_equivalent_form(
    sessions: sessionmaker[Session], ref: str
) -> None:
    """A client is found by its URL written with a slash, other case or a sign-up query."""
    with sessions.begin() as session:
        client_id = register(session).client_id
    with sessions() as session:
        assert registry.find_client(session, ref).id == client_id


def test_find_client_by_id_and_unknown_refs(sessions: sessionmaker[Session]) -> None:
    """A numeric reference is an ID; unknown IDs and URLs raise ClientNotFound."""
    with sessions.begin() as session:
        client_id = register(session).client_id
    with sessions() as session:
        assert registry.find_client(session, client_id).client_url == URL
        assert registry.find_client(session, str(client_id)).client_url == URL
        for ref in (str(client_id + 1), "https://businesscentral.dynamics.com/other.com", "x"):
            with pytest.raises(registry.ClientNotFound):
                registry.find_client(session, ref)


@pytest.mark.parametrize(
    "name",
    [
        "'); DROP TABLE clients;--",
        '<script>alert("x")</script>',
        "Robert'); DELETE FROM client_history WHERE ('1'='1",
        "Müller & Söhne — Zürich 東京",
    ],
)
def test_hostile_names_are_stored_verbatim(sessions: sessionmaker[Session], name: str) -> None:
    """Names are bound parameters: SQL and markup in them are stored and read back as text."""
    with sessions.begin() as session:
        register(session, name=name)
    with sessions.begin() as session:
        registry.add_client(
            session,
            client_url="https://businesscentral.dynamics.com/fabrikam.com",
            tenant="fabrikam.com",
            fields={"name": name, "notes": name},
            status="registered",
            actor="cli",
        )
    assert load(sessions)["name"] == name
    other = load(sessions, "https://businesscentral.dynamics.com/fabrikam.com")
    assert other["name"] == other["notes"] == name
    assert other["history"][0]["changes"]["name"] == name
    with sessions() as session:
        assert session.scalar(text("SELECT count(*) FROM clients")) == 2
        assert session.scalar(text("SELECT count(*) FROM client_history")) == 2


def test_timestamps_come_back_time_zone_aware_in_utc(sessions: sessionmaker[Session]) -> None:
    """Every stored timestamp is read back aware, in UTC, at the same instant."""
    paris = timezone(timedelta(hours=2))
    seen = datetime(2026, 6, 1, 10, 30, 15, 123456, tzinfo=paris)
    tested = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    with sessions.begin() as session:
        register(session, now=seen)
        client = registry.find_client(session, URL)
        registry.record_verification(
            session,
            client,
            outcome="unreachable",
            reason="timed out",
            at=tested,
            next_attempt_at=tested + timedelta(minutes=5),
            actor="pipeline",
        )
    with sessions() as session:
        client = registry.find_client(session, URL)
        stamps = [
            client.created_at,
            client.updated_at,
            client.verified_at,
            client.next_verification_at,
            *(h.at for h in client.history),
        ]
        for stamp in stamps:
            assert stamp is not None
            assert stamp.utcoffset() == timedelta(0), stamp
        assert client.created_at == seen
        assert client.created_at.hour == 8  # 10:30 at +02:00 is 08:30 UTC
        assert client.verified_at == tested
        assert client.next_verification_at == tested + timedelta(minutes=5)
        assert client.history[0].at == seen


def test_naive_timestamps_are_refused(sessions: sessionmaker[Session]) -> None:
    """A naive datetime never reaches the database, where its zone would be guessed."""
    with pytest.raises(StatementError, match="naive datetime"), sessions.begin() as session:
        register(session, now=datetime(2026, 6, 1, 10, 30))  # naive on purpose
    assert count_clients(sessions) == 0


def test_status_acceptance_and_verification_are_recorded_in_history(
    sessions: sessionmaker[Session],
) -> None:
    """Each change of status, acceptance and URL test adds one history entry."""
    at = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
    with sessions.begin() as session:
        register(session, status="pending_verification")
        client = registry.find_client(session, URL)
        registry.record_verification(
            session,
            client,
            outcome="verified",
            reason="redirects to sign-in",
            at=at,
            next_attempt_at=None,
            actor="pipeline",
        )
        registry.set_status(session, client, "registered", actor="pipeline")
        registry.set_status(session, client, "registered", actor="pipeline")  # no change
        assert registry.set_accepted(session, client, actor="cli") is True
        assert registry.set_accepted(session, client, actor="cli") is False
    data = load(sessions)
    assert [h["action"] for h in data["history"]] == [
        "registered",
        "url_tested",
        "status_changed",
        "access_accepted",
    ]
    assert data["status"] == "registered"
    assert data["access_accepted"] is True
    assert data["verification"] == {
        "outcome": "verified",
        "reason": "redirects to sign-in",
        "checked_at": at.isoformat(),
        "attempts": 1,
    }
    # The --json shape is plain JSON.
    assert json.loads(json.dumps(data)) == data


def test_list_and_count_by_status(sessions: sessionmaker[Session]) -> None:
    """Clients can be listed by status (archived ones optionally hidden) and counted."""
    with sessions.begin() as session:
        register(session)
        register(
            session,
            client_url="https://businesscentral.dynamics.com/fabrikam.com",
            tenant="fabrikam.com",
            status="needs_review",
        )
        other = registry.find_client(session, "https://businesscentral.dynamics.com/fabrikam.com")
        registry.set_status(session, other, "archived", actor="cli")
    with sessions() as session:
        assert [c.client_url for c in registry.list_clients(session)] == [
            URL,
            "https://businesscentral.dynamics.com/fabrikam.com",
        ]
        assert [c.client_url for c in registry.list_clients(session, include_archived=False)] == [
            URL
        ]
        assert len(registry.list_clients(session, status="archived")) == 1
        assert registry.count_by_status(session) == {"registered": 1, "archived": 1}


def test_migrate_twice_is_a_no_op_that_keeps_the_data(
    database_url: str, sessions: sessionmaker[Session], engine: Engine
) -> None:
    """Running the migrations again (every start does) changes neither schema nor rows."""
    with sessions.begin() as session:
        register(session)
    tables_before = sorted(inspect(engine).get_table_names())
    later = make_engine(database_url)  # a new process starting on the same database
    try:
        migrate(later)
        migrate(later)
        assert sorted(inspect(later).get_table_names()) == tables_before
        with later.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
        head = ScriptDirectory.from_config(alembic_config(later)).get_current_head()
        assert current == (head,)
    finally:
        later.dispose()
    data = load(sessions)
    assert data["name"] == "Contoso Ltd"
    assert len(data["history"]) == 1
