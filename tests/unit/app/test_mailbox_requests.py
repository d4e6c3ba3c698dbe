"""The Mailboxes page's use cases: the status report for admins, and "poll now" as one waiting
row per mailbox, refused for an unknown or disabled mailbox and to accountants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from acchub_mailbot.app import mailboxes
from acchub_mailbot.app.runtime import App
from acchub_mailbot.cli.main import main
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store import pollrequests
from acchub_mailbot.store.models import utcnow
from tests.unit.app.dashboard_world import ADMIN, ALEX, open_world


def mailbox(name: str, *, enabled: bool = True) -> dict[str, object]:
    imap = {"host": "127.0.0.1", "port": 1, "username": name, "password_env": "ACCHUB_TEST_UNUSED"}
    return {"name": name, "enabled": enabled, "digest_to": [ADMIN.email], "imap": imap}


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    for made, _ids in open_world(database_url, [mailbox("north"), mailbox("old", enabled=False)]):
        yield made


def test_poll_now_waits_as_one_row_until_answered(app: App) -> None:
    assert mailboxes.poll_now(app, ADMIN, "north") is True
    assert mailboxes.poll_now(app, ADMIN, "north") is False
    rows = {m["mailbox"]: m for m in mailboxes.overview(app, ADMIN)["mailboxes"]}
    assert rows["north"]["poll_requested_by"] == ADMIN.email
    assert rows["north"]["poll_requested_at"] is not None
    assert rows["old"]["poll_requested_at"] is None and rows["old"]["enabled"] is False


def test_poll_now_is_refused_where_it_cannot_be_done(app: App) -> None:
    with pytest.raises(Refused, match="disabled"):
        mailboxes.poll_now(app, ADMIN, "old")
    with pytest.raises(NotFound):
        mailboxes.poll_now(app, ADMIN, "nowhere")
    with pytest.raises(NotFound):
        mailboxes.poll_now(app, ALEX, "north")
    with pytest.raises(NotFound):
        mailboxes.overview(app, ALEX)


def test_status_shows_a_waiting_request_until_a_poll_answers_it(
    database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": {"url": database_url}, "mailboxes": [mailbox("north")]}),
        encoding="utf-8",
    )
    config.chmod(0o600)
    env = {"ACCHUB_CONFIG": None, "ACCHUB_TEST_UNUSED": "x"}
    for app, _ids in open_world(database_url, [mailbox("north")]):
        mailboxes.poll_now(app, ADMIN, "north")
        shown = CliRunner().invoke(main, ["status", "--config", str(config)], env=env)
        assert shown.exit_code == 1  # never polled: unhealthy
        assert "poll requested for north at 20" in shown.output and ADMIN.email in shown.output
        with app.sessions.begin() as session:
            pollrequests.answered(session, "north", utcnow())
        shown = CliRunner().invoke(main, ["status", "--config", str(config)], env=env)
        assert "poll requested" not in shown.output
