"""Configuration: the example loads, every error names its key, secrets stay hidden."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from acchub_mailbot.config import CONFIG_ENV, load_settings, parse_settings
from acchub_mailbot.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
PASSWORD = "imap-Pa55word-that-must-not-leak"
ENV = {"ACCHUB_TEST_IMAP_PASSWORD": PASSWORD}

MINIMAL: dict[str, Any] = {
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


def minimal(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(overrides)
    return data


def imap(data: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = data["mailboxes"][0]["imap"]
    return value


def config_error(data: Any, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, environ=ENV if environ is None else environ)
    return str(caught.value)


def write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_example_config_loads_with_its_password_variable_set() -> None:
    """The shipped config.example.yaml is valid once the variable it names is set."""
    settings = load_settings(EXAMPLE, environ={"ACCHUB_IMAP_PASSWORD": "s3cret"})
    (mailbox,) = settings.mailboxes
    assert mailbox.name == "invites"
    assert mailbox.imap.port == 993
    assert mailbox.imap.password is not None
    assert mailbox.imap.password.get_secret_value() == "s3cret"
    assert settings.digest.schedule == "0 8 * * *"
    assert settings.digest.timezone == "Europe/Paris"
    assert settings.digest.from_ == "acchub-mailbot@firm.example"
    assert settings.smtp is not None and settings.smtp.password is None
    # The relative SQLite file sits next to the config file, not in the current directory.
    assert settings.database.url == f"sqlite:///{EXAMPLE.parent / 'acchub.db'}"


def test_example_config_without_its_variable_names_the_variable() -> None:
    """Loading the example without ACCHUB_IMAP_PASSWORD says which variable to export."""
    with pytest.raises(ConfigError) as caught:
        load_settings(EXAMPLE, environ={})
    message = str(caught.value)
    assert "mailboxes[0].imap.password_env" in message
    assert "ACCHUB_IMAP_PASSWORD" in message
    assert "export ACCHUB_IMAP_PASSWORD=" in message


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: imap(d).update(port=0), "mailboxes[0].imap.port", "greater than or equal"),
        (lambda d: imap(d).update(port=70000), "mailboxes[0].imap.port", "less than or equal"),
        (lambda d: imap(d).update(port="imaps"), "mailboxes[0].imap.port", "integer"),
        (lambda d: imap(d).update(hots="x"), "mailboxes[0].imap.hots", "unknown key"),
        (lambda d: d.update(databse={"url": "sqlite:///x.db"}), "databse", "unknown key"),
        (lambda d: imap(d).pop("username"), "mailboxes[0].imap.username", "required key"),
        (lambda d: imap(d).update(security="tls"), "mailboxes[0].imap.security", "'starttls'"),
        (lambda d: d.update(digest={"schedule": "61 * * * *"}), "digest.schedule", "cron"),
        (lambda d: d.update(digest={"schedule": "every day"}), "digest.schedule", "cron"),
        (lambda d: d.update(digest={"timezone": "Mars/Olympus"}), "digest.timezone", "IANA"),
        (
            lambda d: d.update(verification={"allow_networks": ["localhost"]}),
            "verification.allow_networks",
            "'localhost' is not a network",
        ),
        (
            lambda d: d["mailboxes"].append(copy.deepcopy(d["mailboxes"][0])),
            "mailboxes",
            "two mailboxes are named 'invites'",
        ),
        (
            lambda d: imap(d).update(password="hunter2"),
            "mailboxes[0].imap.password",
            "password_env",
        ),
        (lambda d: d.update(database={"url": "acchub.db"}), "database.url", "SQLAlchemy URL"),
        (
            lambda d: d["mailboxes"][0].update(digest_to=["not an address"]),
            "mailboxes[0].digest_to",
            "not an email address",
        ),
    ],
)
def test_every_error_names_its_key_path(change: Any, key: str, words: str) -> None:
    """Each kind of invalid value is reported with the dotted path of the offending key."""
    data = minimal()
    change(data)
    message = config_error(data)
    assert message.startswith(f"{key}: "), message
    assert words in message


def test_inline_password_is_refused_without_echoing_it() -> None:
    """A password written in the file is refused, and the refusal does not repeat it."""
    data = minimal(smtp={"host": "smtp.example.com", "username": "u", "password": "hunter2"})
    message = config_error(data)
    assert message.startswith("smtp.password: ")
    assert "password_file" in message
    assert "hunter2" not in message


def test_unset_password_variable_names_the_variable_and_the_fix() -> None:
    """password_env naming an unset variable says which variable, and how to fix it."""
    data = minimal()
    imap(data)["password_env"] = "ACCHUB_NOT_SET_ANYWHERE"
    message = config_error(data, environ={})
    assert message.startswith("mailboxes[0].imap.password_env: ")
    assert "ACCHUB_NOT_SET_ANYWHERE" in message
    assert "fix: export ACCHUB_NOT_SET_ANYWHERE=" in message


def test_mailbox_without_any_password_source_is_refused() -> None:
    """An IMAP mailbox with neither password_env nor password_file cannot start."""
    data = minimal()
    del imap(data)["password_env"]
    message = config_error(data)
    assert message.startswith("mailboxes[0].imap.password_env: no password source")


def test_smtp_username_without_password_is_refused() -> None:
    """An SMTP login without a password source is reported on the smtp section."""
    message = config_error(minimal(smtp={"host": "smtp.example.com", "username": "bot"}))
    assert message.startswith("smtp.password_env: ")


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_password_file_is_read_and_its_line_ending_stripped(tmp_path: Path, ending: str) -> None:
    """password_file yields the file's content without the trailing newline, spaces kept."""
    secret = tmp_path / "imap-password"
    secret.write_bytes(f" pass word {ending}".encode())
    data = minimal()
    imap(data).pop("password_env")
    imap(data)["password_file"] = str(secret)
    settings = parse_settings(data, environ={})
    password = settings.mailboxes[0].imap.password
    assert password is not None
    assert password.get_secret_value() == " pass word "


def test_unreadable_password_file_names_key_and_path(tmp_path: Path) -> None:
    """A password_file that does not exist is reported with its key and path."""
    data = minimal()
    imap(data).pop("password_env")
    imap(data)["password_file"] = str(tmp_path / "missing")
    message = config_error(data)
    assert message.startswith("mailboxes[0].imap.password_file: cannot read ")
    assert str(tmp_path / "missing") in message


def test_password_env_and_password_file_together_are_refused(tmp_path: Path) -> None:
    """Setting both password sources is ambiguous and refused."""
    secret = tmp_path / "pw"
    secret.write_text("x\n", encoding="utf-8")
    data = minimal()
    imap(data)["password_file"] = str(secret)
    message = config_error(data)
    assert message.startswith("mailboxes[0].imap")
    assert "either password_env or password_file, not both" in message


def test_secrets_never_appear_when_settings_are_printed(tmp_path: Path) -> None:
    """repr(), str() and model_dump() of the settings never contain a resolved password."""
    smtp_secret = "smtp-Pa55word-that-must-not-leak"
    secret_file = tmp_path / "smtp-password"
    secret_file.write_text(smtp_secret + "\n", encoding="utf-8")
    data = minimal(
        smtp={"host": "smtp.example.com", "username": "bot", "password_file": str(secret_file)}
    )
    settings = parse_settings(data, environ=ENV)
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == smtp_secret
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert PASSWORD not in text
        assert smtp_secret not in text
    assert "**********" in repr(settings)


def test_relative_paths_are_anchored_to_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every relative path in the file, password_file included, is relative to the file."""
    config_dir = tmp_path / "etc" / "acchub"
    config_dir.mkdir(parents=True)
    (config_dir / "imap-password").write_text("from-the-config-dir\n", encoding="utf-8")
    (config_dir / "smtp-password").write_text("smtp-from-the-config-dir\n", encoding="utf-8")
    data = minimal(
        database={"url": "sqlite:///var/acchub.db"},
        smtp={
            "host": "smtp.example.com",
            "username": "bot",
            "password_file": "smtp-password",
            "ca_file": "smtp-ca.pem",
        },
        digest={"templates_dir": "templates", "output_dir": "out"},
        verification={"ca_file": "check-ca.pem"},
    )
    imap(data).pop("password_env")
    imap(data).update(password_file="imap-password", ca_file="imap-ca.pem")
    path = write(config_dir / "config.yaml", data)
    # Run from elsewhere: nothing may be looked up relative to the current directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    settings = load_settings(Path("../etc/acchub") / path.name, environ={})

    mailbox_imap = settings.mailboxes[0].imap
    assert mailbox_imap.password is not None
    assert mailbox_imap.password.get_secret_value() == "from-the-config-dir"
    assert mailbox_imap.password_file == config_dir / "imap-password"
    assert mailbox_imap.ca_file == config_dir / "imap-ca.pem"
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "smtp-from-the-config-dir"
    assert settings.smtp.ca_file == config_dir / "smtp-ca.pem"
    assert settings.digest.templates_dir == config_dir / "templates"
    assert settings.digest.output_dir == config_dir / "out"
    assert settings.verification.ca_file == config_dir / "check-ca.pem"
    assert settings.database.url == f"sqlite:///{config_dir / 'var' / 'acchub.db'}"


def test_absolute_paths_and_server_urls_are_left_alone(tmp_path: Path) -> None:
    """Absolute paths, absolute SQLite files and PostgreSQL URLs are not rewritten."""
    data = minimal(
        database={"url": "postgresql://acchub@db.example/acchub"},
        digest={"output_dir": "/srv/digests"},
    )
    settings = load_settings(write(tmp_path / "c.yaml", data), environ=ENV)
    assert settings.database.url == "postgresql://acchub@db.example/acchub"
    assert settings.digest.output_dir == Path("/srv/digests")
    data["database"] = {"url": "sqlite:////var/lib/acchub/acchub.db"}
    settings = load_settings(write(tmp_path / "c.yaml", data), environ=ENV)
    assert settings.database.url == "sqlite:////var/lib/acchub/acchub.db"


def test_acchub_config_variable_is_used_when_no_path_is_given(tmp_path: Path) -> None:
    """Without a path, the file named by $ACCHUB_CONFIG is loaded."""
    path = write(tmp_path / "from-env.yaml", minimal(poll={"interval_seconds": 321}))
    settings = load_settings(environ={CONFIG_ENV: str(path), **ENV})
    assert settings.poll.interval_seconds == 321


def test_no_path_and_no_variable_says_how_to_name_a_config() -> None:
    """Without a path or $ACCHUB_CONFIG the error explains both ways to give one."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={})
    assert "--config" in str(caught.value)
    assert CONFIG_ENV in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A config path that does not exist is reported with that path."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, environ=ENV)
    assert str(caught.value) == f"config file {missing} does not exist"


def test_invalid_yaml_is_reported_with_its_line_and_column(tmp_path: Path) -> None:
    """Broken YAML is reported with the file, the line and the column of the problem."""
    path = tmp_path / "broken.yaml"
    path.write_text("poll:\n  interval_seconds: 60\n  max_attempts: [5\nlogging: {}\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=ENV)
    message = str(caught.value)
    assert message.startswith(f"config file {path} is not valid YAML at line 4")
    assert "column" in message


def test_validation_errors_from_a_file_are_prefixed_with_the_file(tmp_path: Path) -> None:
    """Errors found in a file name the file first, then the key."""
    data = minimal()
    imap(data)["port"] = 0
    path = write(tmp_path / "c.yaml", data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=ENV)
    assert str(caught.value).startswith(f"{path}: mailboxes[0].imap.port: ")


@pytest.mark.parametrize("document", ["- a\n- b\n", "just text\n"])
def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path, document: str) -> None:
    """A YAML list or scalar at the top level is refused with a readable message."""
    path = tmp_path / "c.yaml"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=ENV)
    assert "(top level): the config must be a YAML mapping" in str(caught.value)


def test_empty_file_gives_defaults() -> None:
    """An empty document is valid and yields the documented defaults."""
    settings = parse_settings(None, environ={})
    assert settings.mailboxes == ()
    assert settings.database.url == "sqlite:///acchub.db"
    assert settings.verification.live_check is True
    assert settings.verification.allow_networks == ()


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after loading, so no component can alter another's view."""
    settings = parse_settings(minimal(), environ=ENV)
    with pytest.raises(ValueError, match="frozen"):
        settings.poll.interval_seconds = 5  # type: ignore[misc]


@pytest.mark.parametrize("host", ["smtp.office365.com", "SMTP.Gmail.com"])
def test_check_config_warns_about_a_password_where_only_oauth_works(host: str) -> None:
    from acchub_mailbot.app.configcheck import check_config

    data = minimal(
        smtp={"host": host, "username": "digest@firm.example", "password_env": "SMTP_PASSWORD"}
    )
    settings = parse_settings(data, environ={**ENV, "SMTP_PASSWORD": "x"})
    warnings = [line for line in check_config(settings).summary if "WARNING" in line]
    assert len(warnings) == 1 and "smtp.oauth" in warnings[0]
    data["smtp"] = {
        "host": host,
        "username": "digest@firm.example",
        "oauth": {"provider": "microsoft", "client_id": "app-id"},
    }
    settings = parse_settings(data, environ=ENV, base_dir=Path("/srv/acchub"))
    assert not [line for line in check_config(settings).summary if "WARNING" in line]
    assert settings.smtp is not None and settings.smtp.oauth is not None
    assert settings.smtp.oauth.token_store == Path("/srv/acchub/tokens/@smtp.json")
    assert (
        settings.smtp.oauth.resolved_scope == "https://outlook.office.com/SMTP.Send offline_access"
    )


OIDC = {"issuer": "https://login.microsoftonline.com/1f2e3d4c/v2.0", "client_id": "app-id"}


@pytest.mark.parametrize(
    ("web", "environ", "key", "words"),
    [
        ({"oidc": OIDC}, {}, "web.base_url", "register BASE_URL/login/oidc/callback"),
        ({"base_url": "https://hub.firm.example", "oidc": {**OIDC, "issuer": "http://idp"}},
         {}, "web.oidc.issuer", "https://"),
        ({"base_url": "https://hub.firm.example", "oidc": {**OIDC, "client_secret": "s3cr3t!"}},
         {}, "web.oidc.client_secret", "client_secret_env"),
        ({"base_url": "https://hub.firm.example",
          "oidc": {**OIDC, "client_secret_env": "ACCHUB_OIDC_SECRET"}},
         {}, "web.oidc.client_secret_env", "export ACCHUB_OIDC_SECRET"),
        ({"base_url": "https://hub.firm.example", "oidc": {**OIDC, "scopes": ["email"]}},
         {}, "web.oidc.scopes", "openid"),
        ({"base_url": "https://hub.firm.example", "oidc": {**OIDC, "clientid": "x"}},
         {}, "web.oidc.clientid", "unknown key"),
    ],
)  # fmt: skip
def test_single_sign_on_errors_name_their_key(
    web: dict[str, Any], environ: dict[str, str], key: str, words: str
) -> None:
    message = config_error(minimal(web=web), {**ENV, **environ})
    assert message.startswith(f"{key}: "), message
    assert words in message and "s3cr3t!" not in message


def test_single_sign_on_reads_its_secret_and_keeps_it_out_of_reprs(tmp_path: Path) -> None:
    secret_file = tmp_path / "oidc-secret"
    secret_file.write_text("from-the-file\n", encoding="utf-8")
    web = {"base_url": "https://hub.firm.example/",
           "oidc": {**OIDC, "client_secret_file": "oidc-secret"}}  # fmt: skip
    settings = load_settings(write(tmp_path / "c.yaml", minimal(web=web)), environ=ENV)
    oidc = settings.web.oidc
    assert oidc is not None and oidc.client_secret is not None
    assert oidc.client_secret.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(settings) and oidc.scopes == ("openid", "email", "profile")
    assert settings.web.base_url == "https://hub.firm.example"
