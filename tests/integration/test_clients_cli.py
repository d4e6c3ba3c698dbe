"""The Clients window commands and check-config, driven through the real click CLI.

Every command runs against the ``database_url`` database (SQLite, or PostgreSQL when
``ACCHUB_TEST_DATABASE_URL`` is set) with ``verification.live_check: false``: nothing here
touches the network. The live check's address guard is exercised through ``LiveChecker`` with
an injected resolver, since the CLI has no seam for one and offline DNS cannot resolve
Business Central hosts.
"""

from __future__ import annotations

import csv
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from acchub_mailbot.app.runtime import live_check_settings
from acchub_mailbot.cli.main import main
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store import registry
from acchub_mailbot.store.database import make_engine, migrate, session_factory
from acchub_mailbot.verify.urlcheck import LiveChecker, Outcome

PASSWORD_ENV = "ACCHUB_TEST_CLI_IMAP_PASSWORD"
CONTOSO = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"
FABRIKAM = "https://businesscentral.dynamics.com/fabrikam.com"
LOOKALIKE = "https://businesscentral.dynamics.com.evil.example/contoso.onmicrosoft.com"
JSON_KEYS = {"id", "name", "client_url", "status", "access_link", "add_client_link"}


def config_data(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "mailboxes": [
            {
                "name": "invites",
                "imap": {
                    "host": "imap.invalid",
                    "username": "invites@firm.example",
                    "password_env": PASSWORD_ENV,
                },
                "digest_to": ["accountant@firm.example"],
            }
        ],
        "digest": {"output_dir": str(tmp_path / "digests")},
        "verification": {"live_check": False},
    }


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_data(database_url, tmp_path)), encoding="utf-8")
    path.chmod(0o600)
    return path


class Cli:
    """Runs ``acchub-mailbot ARGS --config CONFIG`` in-process and returns click's result."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, config: Path | None = None) -> Result:
        result = self.runner.invoke(
            main,
            [*args, "--config", str(config or self.config)],
            env={
                PASSWORD_ENV: "imap-secret",
                "ACCHUB_CONFIG": None,
                "DISPLAY": None,
                "WAYLAND_DISPLAY": None,
            },
            catch_exceptions=False,
        )
        assert result.exit_code == code, (
            f"{args} exited {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(config: Path) -> Cli:
    return Cli(config)


@pytest.fixture
def sessions(database_url: str) -> Iterator[Any]:
    """Direct access to the same database, for what the pipeline (not the CLI) does."""
    engine = make_engine(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def add(cli: Cli, url: str = CONTOSO, name: str = "Contoso Ltd", *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = cli.json("clients", "add", "--url", url, "--name", name, *extra)
    return data


# -- clients add -------------------------------------------------------------------------------


def test_add_without_url_is_a_usage_error(cli: Cli) -> None:
    """The client URL is mandatory when adding a client by hand."""
    result = cli("clients", "add", "--name", "Contoso", code=2)
    assert "Missing option '--url'" in result.stderr


def test_add_prints_the_new_card_as_json_with_the_normal_url(cli: Cli) -> None:
    """--json prints the stored card; the URL is normalized and the typed fields protected."""
    data = add(
        cli,
        "https://BusinessCentral.dynamics.com/Contoso.onmicrosoft.com/?redirectedfromsignup=1",
        "Contoso Ltd",
        "--contact-email",
        "cfo@contoso.example",
    )
    assert data.keys() >= JSON_KEYS
    assert data["client_url"] == CONTOSO
    assert data["tenant"] == "contoso.onmicrosoft.com"
    assert data["name"] == "Contoso Ltd"
    assert data["contact_email"] == "cfo@contoso.example"
    # With the live check off, a URL that passes the offline rules is registered at once.
    assert data["status"] == "registered"
    assert data["mailbox"] == "invites"
    assert data["edited_fields"] == ["contact_email", "name"]


def test_add_without_json_prints_one_line(cli: Cli) -> None:
    """Without --json, add confirms with the ID, name, URL and status."""
    result = cli("clients", "add", "--url", CONTOSO, "--name", "Contoso Ltd")
    assert result.stdout == f"added client 1: Contoso Ltd — {CONTOSO} (registered)\n"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (LOOKALIKE, "look-alike host businesscentral.dynamics.com.evil.example"),
        ("https://businesscentraI.dynamics.com/contoso.com", "look-alike host"),
        ("http://businesscentral.dynamics.com/contoso.com", "not https"),
        ("https://127.0.0.1/contoso.com", "IP address"),
        ("https://businesscentral.dynamics.com/", "names no tenant"),
    ],
)
def test_add_refuses_a_url_the_rules_refuse_and_says_why(cli: Cli, url: str, reason: str) -> None:
    """A look-alike or otherwise illegitimate URL is refused with its reason; nothing stored."""
    result = cli("clients", "add", "--url", url, "--name", "Evil", code=1)
    assert "client URL refused:" in result.stderr
    assert reason in result.stderr
    assert cli.json("clients", "list") == []


def test_add_refuses_a_duplicate_url(cli: Cli) -> None:
    """Adding a client whose URL is already registered fails and keeps the first card."""
    add(cli)
    result = cli("clients", "add", "--url", CONTOSO + "/", "--name", "Copy", code=1)
    assert "already exists" in result.stderr
    assert [c["name"] for c in cli.json("clients", "list")] == ["Contoso Ltd"]


# -- clients list / show -----------------------------------------------------------------------


def test_list_prints_an_aligned_table(cli: Cli) -> None:
    """Each column of the table starts at the same offset on every line."""
    add(cli, CONTOSO, "Contoso Ltd")
    add(cli, FABRIKAM, "F")
    lines = cli("clients", "list").stdout.splitlines()
    assert len(lines) == 4
    header, rule, *rows = lines
    assert header.split() == ["ID", "NAME", "CLIENT", "URL", "STATUS", "ACCEPTED", "URL", "TEST"]
    assert set(rule) <= {"-", " "}
    for column in ("NAME", "CLIENT URL", "STATUS", "ACCEPTED"):
        start = header.index(column)
        assert rule[start - 2 : start] == "  " and rule[start] == "-"
        for row in rows:
            assert row[start - 1] == " " and row[start] != " ", (column, row)
    assert rows[0].split()[:4] == ["1", "Contoso", "Ltd", CONTOSO]
    assert rows[1].split()[:4] == ["2", "F", FABRIKAM, "registered"]


def test_list_on_an_empty_registry_says_so(cli: Cli) -> None:
    """An empty list is stated in words, and as [] with --json."""
    assert cli("clients", "list").stdout == "no clients\n"
    assert cli("clients", "list", "--status", "archived").stdout == (
        "no clients with status archived\n"
    )
    assert cli.json("clients", "list") == []


def test_list_json_and_status_filter(cli: Cli) -> None:
    """--json gives an array of cards; --status keeps only clients with that status."""
    contoso = add(cli, CONTOSO)
    fabrikam = add(cli, FABRIKAM, "Fabrikam")
    cli("clients", "archive", str(fabrikam["id"]))
    everyone = cli.json("clients", "list")
    assert [c["id"] for c in everyone] == [contoso["id"], fabrikam["id"]]
    for card in everyone:
        assert card.keys() >= JSON_KEYS
    archived = cli.json("clients", "list", "--status", "archived")
    assert [c["client_url"] for c in archived] == [FABRIKAM]
    registered = cli.json("clients", "list", "--status", "registered")
    assert [c["client_url"] for c in registered] == [CONTOSO]
    cli("clients", "list", "--status", "deleted", code=2)


def test_show_by_id_or_url_displays_the_history(cli: Cli) -> None:
    """show finds a client by ID or any form of its URL and prints its card and history."""
    client = add(cli)
    cli("clients", "edit", str(client["id"]), "--notes", "pays late")
    by_id = cli("clients", "show", str(client["id"])).stdout
    by_url = cli("clients", "show", CONTOSO.upper().replace("HTTPS://", "https://") + "/").stdout
    assert by_id == by_url
    assert f"client_url:         {CONTOSO}\n" in by_id
    assert "notes:              pays late\n" in by_id
    assert "edited by hand:     name, notes\n" in by_id
    history = by_id.split("history:\n", 1)[1].splitlines()
    assert len(history) == 2
    assert "cli" in history[0] and "added_by_hand" in history[0]
    assert "edited" in history[1] and '"pays late"' in history[1]


def test_show_json_includes_the_history(cli: Cli) -> None:
    """show --json is the card plus its history entries."""
    client = add(cli)
    data = cli.json("clients", "show", str(client["id"]))
    assert data["client_url"] == CONTOSO
    assert [h["action"] for h in data["history"]] == ["added_by_hand"]
    assert data["history"][0]["actor"] == "cli"


def test_show_unknown_client_fails(cli: Cli) -> None:
    """An unknown ID or URL is an error that names the reference."""
    assert "no client '42'" in cli("clients", "show", "42", code=1).stderr
    assert "no client" in cli("clients", "show", FABRIKAM, code=1).stderr


# -- clients edit / accept / archive -----------------------------------------------------------


def test_edited_name_is_kept_when_the_invitation_arrives_again(cli: Cli, sessions: Any) -> None:
    """A name edited with the CLI survives a later registration by the pipeline."""
    with sessions.begin() as session:
        registry.register_invitation(
            session,
            client_url=CONTOSO,
            tenant="contoso.onmicrosoft.com",
            name="CONTOSO LTD",
            access_link=CONTOSO + "?signup=1",
            add_client_link=None,
            status="registered",
            mailbox="invites",
            message_id="<one@x>",
        )
    result = cli("clients", "edit", "1", "--name", "Contoso (Lyon)")
    assert result.stdout == "client 1: changed name\n"
    with sessions.begin() as session:
        registry.register_invitation(
            session,
            client_url=CONTOSO,
            tenant="contoso.onmicrosoft.com",
            name="CONTOSO LTD",
            access_link=CONTOSO + "?signup=2",
            add_client_link=None,
            status="registered",
            mailbox="invites",
            message_id="<two@x>",
        )
    data = cli.json("clients", "show", "1")
    assert data["name"] == "Contoso (Lyon)"
    assert data["access_link"] == CONTOSO + "?signup=2"
    assert [h["action"] for h in data["history"]] == ["registered", "edited", "refreshed"]


def test_edit_reports_nothing_to_change(cli: Cli) -> None:
    """edit without any field is a usage error; the same value again changes nothing."""
    add(cli)
    cli("clients", "edit", "1", code=2)
    assert cli("clients", "edit", "1", "--name", "Contoso Ltd").stdout == (
        "client 1: nothing changed\n"
    )


def test_edit_url_is_checked_like_a_new_one(cli: Cli) -> None:
    """A new URL must pass the rules and must not belong to another client."""
    add(cli, CONTOSO)
    add(cli, FABRIKAM, "Fabrikam")
    refused = cli("clients", "edit", "2", "--url", LOOKALIKE, code=1)
    assert "client URL refused: look-alike host" in refused.stderr
    taken = cli("clients", "edit", "2", "--url", CONTOSO + "/", code=1)
    assert f"a client with URL {CONTOSO} already exists" in taken.stderr
    assert cli.json("clients", "show", "2")["client_url"] == FABRIKAM
    moved = cli.json("clients", "edit", "2", "--url", FABRIKAM.replace("fabrikam", "Fabrikam-EU"))
    assert moved["client_url"] == "https://businesscentral.dynamics.com/fabrikam-eu.com"


def test_accept_marks_the_access_as_accepted_once(cli: Cli) -> None:
    """accept records the acceptance once; a second accept says it already was."""
    add(cli)
    assert cli("clients", "accept", "1").stdout == "client 1: access accepted\n"
    assert cli("clients", "accept", CONTOSO).stdout == "client 1: access accepted (already)\n"
    data = cli.json("clients", "show", "1")
    assert data["access_accepted"] is True
    assert [h["action"] for h in data["history"]] == ["added_by_hand", "access_accepted"]


def test_archive_hides_the_client_under_its_own_status(cli: Cli, sessions: Any) -> None:
    """archive sets the status to archived; a new invitation makes the client active again."""
    add(cli)
    assert cli("clients", "archive", "1").stdout == "client 1: archived\n"
    assert cli.json("clients", "show", "1")["status"] == "archived"
    with sessions.begin() as session:
        registry.register_invitation(
            session,
            client_url=CONTOSO,
            tenant="contoso.onmicrosoft.com",
            name=None,
            access_link=None,
            add_client_link=None,
            status="pending_verification",
            mailbox="invites",
            message_id="<back@x>",
        )
    assert cli.json("clients", "show", "1")["status"] == "pending_verification"


# -- clients export / open ---------------------------------------------------------------------


def test_export_csv_guards_against_formulas(cli: Cli) -> None:
    """Cells starting with = + - @ are prefixed with ' so spreadsheets show them as text."""
    add(cli, CONTOSO, '=HYPERLINK("http://evil.example","x")', "--phone", "+33 1 23 45 67 89")
    add(cli, FABRIKAM, "Fabrikam", "--notes", "@SUM(A1)", "--contact-name", "-Bob")
    text = cli("clients", "export", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[0]["phone"] == "'+33 1 23 45 67 89"
    assert rows[1]["name"] == "Fabrikam"
    assert rows[1]["notes"] == "'@SUM(A1)"
    assert rows[1]["contact_name"] == "'-Bob"
    assert rows[1]["client_url"] == FABRIKAM
    # Empty values stay empty rather than becoming a lone quote.
    assert rows[0]["notes"] == "" and rows[0]["access_link"] == ""
    assert list(rows[0]) == [
        "id", "name", "client_url", "tenant", "status", "access_accepted", "access_link",
        "add_client_link", "contact_name", "contact_email", "phone", "notes", "created_at",
        "updated_at",
    ]  # fmt: skip


def test_export_csv_leaves_an_empty_text_field_empty(cli: Cli) -> None:
    """A field edited to the empty string exports as an empty cell, not as a quote."""
    add(cli)
    cli("clients", "edit", "1", "--notes", "")
    (row,) = csv.DictReader(io.StringIO(cli("clients", "export").stdout))
    assert row["notes"] == ""


def test_export_json_keeps_values_verbatim_and_can_write_a_file(cli: Cli, tmp_path: Path) -> None:
    """JSON export is the raw data (no formula guard); -o writes it to a file."""
    add(cli, CONTOSO, "=1+1")
    out = tmp_path / "clients.json"
    result = cli("clients", "export", "--format", "json", "-o", str(out))
    assert result.stdout == ""
    assert f"1 client(s) written to {out}" in result.stderr
    (card,) = json.loads(out.read_text(encoding="utf-8"))
    assert card["name"] == "=1+1"
    assert card["client_url"] == CONTOSO
    assert json.loads(cli("clients", "export", "--format", "json").stdout) == [card]


def test_open_without_browser_prints_the_url(cli: Cli) -> None:
    """open --no-browser prints the client URL and nothing else on stdout."""
    add(cli)
    result = cli("clients", "open", "1", "--no-browser")
    assert result.stdout == CONTOSO + "\n"
    assert result.stderr == ""


def test_open_warns_about_a_client_that_needs_review(cli: Cli) -> None:
    """Opening a client that needs review prints a warning on stderr."""
    add(cli)
    cli("clients", "edit", "1", "--status", "needs_review")
    result = cli("clients", "open", CONTOSO, "--no-browser")
    assert result.stdout == CONTOSO + "\n"
    assert "warning: this client is needs_review" in result.stderr


# -- clients test-url --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (LOOKALIKE, "look-alike host businesscentral.dynamics.com.evil.example"),
        ("https://dynamics-businesscentral.com/contoso.com", "look-alike host"),
        ("https://xn--businesscentrl-6kb.dynamics.com/contoso.com", "punycode"),
        ("http://businesscentral.dynamics.com/contoso.onmicrosoft.com", "not https (http://)"),
    ],
)
def test_test_url_refuses_offline_with_the_reason(cli: Cli, url: str, reason: str) -> None:
    """A URL the offline rules refuse fails with exit 1 and its reason, without any traffic."""
    result = cli("clients", "test-url", url, code=1)
    assert "Result:     failed" in result.stdout
    assert "Final URL:  -" in result.stdout
    assert reason in result.stdout
    assert "1. rules: refused:" in result.stdout


def test_test_url_json_reports_the_refusal(cli: Cli) -> None:
    """test-url --json gives the outcome, the reason and the steps; exit code 1."""
    result = cli("clients", "test-url", "--json", LOOKALIKE, code=1)
    data = json.loads(result.stdout)
    assert data["url"] == LOOKALIKE
    assert data["outcome"] == "failed"
    assert "look-alike host" in data["reason"]
    assert data["final_url"] is None
    assert len(data["checked"]) == 1 and data["checked"][0].startswith("rules: refused:")


def test_test_url_of_an_unknown_client_id_fails(cli: Cli) -> None:
    """A client ID that does not exist is an error, not a URL test."""
    assert "no client '7'" in cli("clients", "test-url", "7", code=1).stderr


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["::1"],
        ["10.1.2.3"],
        ["192.168.0.10"],
        ["172.16.5.4"],
        ["169.254.169.254"],
        ["fe80::1"],
        ["fd12:3456::1"],
        ["0.0.0.0"],
        ["::ffff:127.0.0.1"],
        ["20.190.151.68", "127.0.0.1"],
    ],
)
def test_default_config_refuses_hosts_resolving_to_internal_addresses(
    addresses: list[str],
) -> None:
    """With no allow_networks, a client URL whose host resolves inside refuses to connect."""
    settings = parse_settings({}, environ={})
    assert settings.verification.allow_networks == ()
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return addresses

    with LiveChecker(live_check_settings(settings), resolver=resolver) as checker:
        result = checker.check(CONTOSO + "?redirectedfromsignup=1")
    assert asked == [("businesscentral.dynamics.com", 443)]
    assert result.outcome is Outcome.FAILED
    assert result.reason.startswith("address refused: businesscentral.dynamics.com resolves to")
    assert result.checked[-1].endswith(": refused")
    assert not any(step.startswith("connect:") for step in result.checked)


# -- check-config ------------------------------------------------------------------------------


def test_check_config_accepts_a_good_config(cli: Cli) -> None:
    """check-config summarizes a valid config and ends with "config OK"."""
    result = cli("check-config")
    assert result.stdout.endswith("config OK\n")
    assert "mailbox invites: invites@firm.example at imap.invalid:993 (ssl)" in result.stdout
    assert "live URL check: off" in result.stdout
    assert "imap-secret" not in result.stdout + result.stderr


def test_check_config_refuses_a_bad_config_naming_the_key(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """A config error exits 2 and names the offending key."""
    data = config_data(database_url, tmp_path)
    data["mailboxes"][0]["imap"]["port"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli("check-config", config=bad, code=2)
    assert "configuration error:" in result.stderr
    assert "mailboxes[0].imap.port" in result.stderr
    assert "config OK" not in result.stdout


def test_check_config_names_an_unset_password_variable(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """A password variable that is not set is named, with exit code 2."""
    data = config_data(database_url, tmp_path)
    data["mailboxes"][0]["imap"]["password_env"] = "ACCHUB_TEST_UNSET_VARIABLE"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli("check-config", config=bad, code=2)
    assert "ACCHUB_TEST_UNSET_VARIABLE" in result.stderr


def test_check_config_reports_a_config_that_cannot_deliver(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """A valid config with no mailbox and no way to send digests is a problem: exit 2."""
    bad = tmp_path / "empty.yaml"
    bad.write_text(yaml.safe_dump({"database": {"url": database_url}}), encoding="utf-8")
    result = cli("check-config", config=bad, code=2)
    assert "problem: mailboxes: no mailbox configured" in result.stderr
    assert "problem: smtp: no SMTP server and no digest.output_dir" in result.stderr
    assert "config OK" not in result.stdout


def test_clients_commands_refuse_a_bad_config_with_exit_2(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """Every command that loads the config treats a bad one as a configuration error."""
    data = config_data(database_url, tmp_path)
    data["verification"]["live_chek"] = True
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli("clients", "list", config=bad, code=2)
    assert "verification.live_chek: unknown key" in result.stderr


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [("clients", "list"), ("run", "--once"), ("status",)])
def test_a_database_that_cannot_be_reached_is_one_clear_line_without_the_password(
    cli: Cli, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Nothing listens on the port: the error names the URL (password hidden) and the fix, and
    no traceback reaches the operator."""
    data = config_data(f"postgresql://acchub:db-secret@127.0.0.1:{_unused_port()}/acchub", tmp_path)
    path = tmp_path / "unreachable.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o600)
    result = cli(*command, config=path, code=1)
    assert "cannot open the database postgresql://acchub:***@127.0.0.1:" in result.stderr
    assert "Connection refused" in result.stderr
    assert "Check database.url" in result.stderr
    assert "db-secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_sqlite_folder_that_cannot_be_created_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be", encoding="utf-8")
    data = config_data(f"sqlite:///{blocker}/acchub.db", tmp_path)
    path = tmp_path / "blocked.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o600)
    result = cli("clients", "list", config=path, code=1)
    assert f"cannot open the database sqlite:///{blocker}/acchub.db" in result.stderr
    assert "File exists" in result.stderr
