"""The ``users`` and ``tokens`` commands through the real click CLI, on the ``database_url``
database (SQLite, or PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from acchub_mailbot.app import accounts, tokens
from acchub_mailbot.app.runtime import App
from acchub_mailbot.cli.main import main
from acchub_mailbot.config import load_settings

PASSWORD = "a long enough passphrase"


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": database_url}}), encoding="utf-8")
    path.chmod(0o600)
    return path


def run(config: Path, *args: str, stdin: str | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(
        main, [*args, "--config", str(config)], input=stdin, env={"ACCHUB_CONFIG": None}
    )
    assert result.exit_code == code, f"{args}: {result.exit_code}\n{result.output}"
    return result


def signs_in(config: Path, email: str, password: str) -> bool:
    app = App.open(load_settings(config))
    try:
        return accounts.authenticate(app, email, password) is not None
    finally:
        app.close()


def test_add_list_disable_and_reset_through_the_command_line(config: Path) -> None:
    added = run(config, "users", "add", "Dana@Firm.Example", "--role", "admin",
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert "added dana@firm.example (admin)" in added.output
    assert PASSWORD not in added.output
    assert signs_in(config, "dana@firm.example", PASSWORD)

    # Without --password-stdin and without a terminal, a password is generated and shown once.
    made = run(config, "users", "add", "sam@firm.example", "--role", "accountant", stdin="")
    shown = re.search(r"store it now\): (\S+)", made.output)
    assert shown is not None
    assert signs_in(config, "sam@firm.example", shown.group(1))

    listed = json.loads(run(config, "users", "list", "--json").output)
    assert [(u["email"], u["role"], u["active"]) for u in listed] == [
        ("dana@firm.example", "admin", True),
        ("sam@firm.example", "accountant", True),
    ]
    assert all("password" not in key or key == "has_password" for u in listed for key in u)

    run(config, "users", "disable", "sam@firm.example")
    assert not signs_in(config, "sam@firm.example", shown.group(1))
    table = run(config, "users", "list").output
    assert re.search(
        r"sam@firm\.example\s+accountant\s+disabled\s+\d{4}-\d\d-\d\d \d\d:\d\d", table
    )
    run(config, "users", "enable", "sam@firm.example")

    reset = run(config, "users", "reset-password", "sam@firm.example", "--password-stdin",
                stdin="the new passphrase here\n")  # fmt: skip
    assert "password changed for sam@firm.example" in reset.output
    assert signs_in(config, "sam@firm.example", "the new passphrase here")
    assert not signs_in(config, "sam@firm.example", shown.group(1))


def test_refusals_exit_1_with_the_reason(config: Path) -> None:
    short = run(config, "users", "add", "dana@firm.example", "--role", "admin",
                "--password-stdin", stdin="short\n", code=1)  # fmt: skip
    assert "at least 12 characters" in short.output
    unknown = run(config, "users", "disable", "eve@firm.example", code=1)
    assert "no account for eve@firm.example" in unknown.output
    empty = run(config, "users", "add", "dana@firm.example", "--role", "admin",
                "--password-stdin", stdin="", code=2)  # fmt: skip
    assert "standard input held no password" in empty.output
    bad_role = run(config, "users", "add", "dana@firm.example", "--role", "owner", code=2)
    assert "'owner' is not one of 'admin', 'accountant'" in bad_role.output
    assert json.loads(run(config, "users", "list", "--json").output) == []


def test_a_token_is_printed_once_and_listed_by_its_hint_only(config: Path) -> None:
    run(config, "users", "add", "dana@firm.example", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    made = json.loads(run(config, "tokens", "create", "--user", "dana@firm.example",
                          "--read-only", "--json").output)  # fmt: skip
    secret = made["token"]
    assert made["read_only"] is True and secret.startswith("acchub_")
    listed = run(config, "tokens", "list").output
    assert secret not in listed and made["hint"] in listed and "read-only" in listed
    app = App.open(load_settings(config))
    try:
        assert tokens.bearer(app, secret) is not None
        run(config, "tokens", "revoke", str(made["id"]))
        assert tokens.bearer(app, secret) is None
    finally:
        app.close()
    assert json.loads(run(config, "tokens", "list", "--json").output)[0]["revoked"] is True
    assert "no account for eve" in run(config, "tokens", "create", "--user", "eve@x.example",
                                       code=1).output  # fmt: skip
