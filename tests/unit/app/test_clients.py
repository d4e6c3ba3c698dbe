"""The Clients use cases over a real SQLite database: the rules every front end shares."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from acchub_mailbot.app import clients, failures
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import Settings, load_settings
from acchub_mailbot.errors import DatabaseUnavailable, NotFound, Refused

URL = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"


def _settings(tmp_path: Path, database: str) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": database},
                "verification": {"live_check": False},
                "mailboxes": [
                    {
                        "name": "invites",
                        "imap": {
                            "host": "imap.example.com",
                            "username": "invites@firm.example",
                            "password_env": "ACCHUB_TEST_IMAP_PASSWORD",
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return load_settings(config, environ={"ACCHUB_TEST_IMAP_PASSWORD": "x"})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    opened = App.open(_settings(tmp_path, f"sqlite:///{tmp_path / 'acchub.db'}"))
    yield opened
    opened.close()


def test_a_client_added_by_hand_is_listed_and_shown_with_its_history(app: App) -> None:
    added = clients.add_client(app, url=URL + "/", fields={"name": "Contoso", "phone": None})
    assert added["client_url"] == URL
    assert added["status"] == "registered"  # no live check configured
    assert [c["name"] for c in clients.list_clients(app)] == ["Contoso"]
    card = clients.show_client(app, str(added["id"]))
    assert [h["actor"] for h in card["history"]] == ["cli"]
    assert clients.show_client(app, URL)["id"] == added["id"]


def test_a_url_the_rules_refuse_is_never_stored(app: App) -> None:
    with pytest.raises(Refused, match="client URL refused"):
        clients.add_client(
            app, url="https://businesscentral.dynamics.com.evil.example/x", fields={"name": "X"}
        )
    assert clients.list_clients(app) == []


def test_the_same_url_twice_is_refused(app: App) -> None:
    clients.add_client(app, url=URL, fields={"name": "Contoso"})
    with pytest.raises(Refused, match="already exists"):
        clients.add_client(app, url=URL, fields={"name": "Contoso again"})
    assert len(clients.list_clients(app)) == 1


def test_an_edit_protects_the_field_and_reports_what_changed(app: App) -> None:
    added = clients.add_client(app, url=URL, fields={"name": "Contoso"})
    applied, data = clients.edit_client(
        app, str(added["id"]), {"name": "Contoso Ltd", "notes": None}
    )
    assert applied == {"name"}
    assert data["edited_fields"] == ["name"]
    assert clients.edit_client(app, str(added["id"]), {"name": "Contoso Ltd"})[0] == set()
    with pytest.raises(Refused):
        clients.edit_client(app, str(added["id"]), {"client_url": "http://example.com/"})
    with pytest.raises(Refused, match="nothing to change"):
        clients.edit_client(app, str(added["id"]), {"name": None})


def test_unknown_clients_raise_not_found_for_every_use_case(app: App) -> None:
    for call in (
        lambda: clients.show_client(app, "42"),
        lambda: clients.edit_client(app, "42", {"name": "x"}),
        lambda: clients.accept_client(app, "42"),
        lambda: clients.archive_client(app, "42"),
        lambda: clients.client_to_open(app, URL),
    ):
        with pytest.raises(NotFound, match="no client"):
            call()


def test_accept_and_archive_are_recorded_once(app: App) -> None:
    cid = clients.add_client(app, url=URL, fields={"name": "Contoso"})["id"]
    assert clients.accept_client(app, str(cid)) == (cid, True)
    assert clients.accept_client(app, str(cid)) == (cid, False)
    assert clients.archive_client(app, str(cid)) == cid
    assert clients.client_to_open(app, str(cid)) == (URL, "archived")
    assert [c["id"] for c in clients.list_clients(app, status="archived")] == [cid]
    assert clients.list_clients(app, status="registered") == []


def test_the_csv_export_defuses_spreadsheet_formulas(app: App) -> None:
    clients.add_client(app, url=URL, fields={"name": '=HYPERLINK("http://x")', "notes": ""})
    text, count = clients.export_clients(app, "csv")
    assert count == 1
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["name"].startswith("'=")
    assert row["notes"] == ""
    assert list(row) == list(clients.EXPORT_COLUMNS)


def test_an_owner_filter_shows_only_that_accountants_clients(app: App) -> None:
    clients.add_client(app, url=URL, fields={"name": "Contoso"})
    assert clients.list_clients(app, owner="someone@firm.example") == []


def test_nothing_failed_means_nothing_to_retry(app: App) -> None:
    assert failures.failed_messages(app) == []
    assert failures.retry_messages(app, None) == 0


def test_a_database_that_cannot_open_is_one_line_without_the_password(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseUnavailable, match="cannot open the database"):
        App.open(_settings(tmp_path, f"sqlite:///{blocker}/acchub.db"))
    settings = _settings(tmp_path, "postgresql://acchub:hunter2@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable) as raised:
        App.open(settings)
    assert "hunter2" not in str(raised.value)
    assert "acchub:***@127.0.0.1:1" in str(raised.value)
