"""Passwords never show: not in logs, exceptions, status, check-config or the database.

The IMAP, SMTP and database passwords below are distinctive, so a plain substring search over
everything the program wrote finds any leak: every command's stdout and stderr (logging at
DEBUG), the service's log until SIGTERM, the digest it sent, and every row it stored. The
failure paths (wrong password, a certificate that does not verify, an unreachable database) are
searched too, since error messages are where secrets usually slip out.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests import mailfactory, support
from tests.conftest import SMTP_PASSWORD, SMTP_USER
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.postgres import is_postgres_url
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

IMAP_SECRET = "Imap-Leak-7fQx2Lw"
WRONG_IMAP_SECRET = "Wrong-Imap-Leak-9kZ"
WRONG_SMTP_SECRET = "Wrong-Smtp-Leak-2vR"
PG_SECRET = "Pg-Leak-4tWq8"
SECRETS = (IMAP_SECRET, WRONG_IMAP_SECRET, WRONG_SMTP_SECRET, PG_SECRET, SMTP_PASSWORD)
SMTP_ENV = "ACCHUB_TEST_SMTP_PASSWORD"
IMAP_ENV = f"{support.PASSWORD_ENV}_INVITES"
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("check-config",),
    ("run", "--once"),
    ("status",),
    ("status", "--json"),
    ("clients", "list"),
    ("clients", "list", "--json"),
    ("digest", "preview"),
)


@pytest.fixture
def secret_account(dovecot: DovecotServer) -> ImapAccount:
    """A mailbox user whose password is IMAP_SECRET."""
    if not dovecot.running:
        dovecot.start()
    username = f"leak-{uuid.uuid4().hex[:10]}"
    dovecot.add_user(username, IMAP_SECRET)
    return dovecot.account(username)


def _with_password(database_url: str) -> str:
    """The test database's URL carrying PG_SECRET (the test server trusts any password)."""
    if not is_postgres_url(database_url):
        return database_url
    url = make_url(database_url).set(password=PG_SECRET)
    return url.render_as_string(hide_password=False)


def _config(
    tmp_path: Path,
    account: ImapAccount,
    database_url: str,
    smtp: SmtpServer,
    *,
    verify_with_test_ca: bool = True,
) -> Path:
    path = support.write_config(
        tmp_path / "config.yaml",
        accounts={"invites": account},
        database_url=database_url,
        smtp=None,
        extra={
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "starttls",
                "username": SMTP_USER,
                "password_env": SMTP_ENV,
                "ca_file": str(smtp.ca_file) if verify_with_test_ca else None,
                "timeout_seconds": 10,
            },
            "logging": {"level": "DEBUG"},
        },
    )
    if not verify_with_test_ca:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["mailboxes"][0]["imap"]["ca_file"] = None
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o600)
    return path


def _run_all(config: Path, account: ImapAccount, env: dict[str, str]) -> list[str]:
    """Every command's stdout and stderr."""
    outputs: list[str] = []
    for command in COMMANDS:
        result = support.cli(config, *command, accounts={"invites": account}, check=False, env=env)
        outputs += [f"$ {' '.join(command)}\n{result.stdout}", result.stderr]
    return outputs


def _assert_no_secret(outputs: list[str]) -> None:
    joined = "\n".join(outputs)
    for secret in SECRETS:
        assert secret not in joined, f"{secret!r} leaked"


def test_no_password_in_any_output_of_a_working_setup(
    tmp_path: Path,
    secret_account: ImapAccount,
    smtp_tls_server: SmtpServer,
    database_url: str,
) -> None:
    """Commands, the service's log, the digest and the database never contain a password."""
    secret_account.append(mailfactory.invitation(hub_name="Kestrel", message_id="<k@x.example>"))
    url = _with_password(database_url)
    config = _config(tmp_path, secret_account, url, smtp_tls_server)
    env = {SMTP_ENV: SMTP_PASSWORD}
    outputs = _run_all(config, secret_account, env)
    assert "invites: 1 new message(s)" in "\n".join(outputs)
    assert len(smtp_tls_server.wait_for(1, timeout=10)) == 1

    log = tmp_path / "service.log"
    service = support.start_service(config, {"invites": secret_account}, log, **env)
    try:
        secret_account.append(mailfactory.ordinary("Another one", message_id="<o@x.example>"))
        time.sleep(4)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
    outputs.append(log.read_text(encoding="utf-8", errors="replace"))
    outputs += [bytes(r.message).decode("utf-8", "replace") for r in smtp_tls_server.received]
    outputs.append(support.database_dump(url))
    _assert_no_secret(outputs)


@pytest.mark.parametrize(
    "failure", ["wrong-imap-password", "tls-unverified", "wrong-smtp-password"]
)
def test_no_password_in_the_error_paths(
    tmp_path: Path,
    secret_account: ImapAccount,
    smtp_tls_server: SmtpServer,
    database_url: str,
    failure: str,
) -> None:
    """A refused login or a certificate that does not verify is reported without the password."""
    secret_account.append(mailfactory.invitation(hub_name="Kestrel", message_id="<k@x.example>"))
    url = _with_password(database_url)
    config = _config(
        tmp_path,
        secret_account,
        url,
        smtp_tls_server,
        verify_with_test_ca=failure != "tls-unverified",
    )
    env = {SMTP_ENV: SMTP_PASSWORD}
    if failure == "wrong-imap-password":
        env[IMAP_ENV] = WRONG_IMAP_SECRET
    elif failure == "wrong-smtp-password":
        env[SMTP_ENV] = WRONG_SMTP_SECRET
    outputs = _run_all(config, secret_account, env)
    joined = "\n".join(outputs)
    expected = {
        "wrong-imap-password": "login to",
        "tls-unverified": "CERTIFICATE_VERIFY_FAILED",
        "wrong-smtp-password": "refused the login",
    }[failure]
    assert expected in joined  # the failure did happen, and is reported
    if failure == "tls-unverified":
        assert "invites: cannot connect" in joined or "mailbox invites: cannot connect" in joined
    outputs.append(support.database_dump(url))
    _assert_no_secret(outputs)


def test_no_password_when_the_database_is_unreachable(
    tmp_path: Path, secret_account: ImapAccount, smtp_tls_server: SmtpServer
) -> None:
    """A PostgreSQL URL with a password that cannot connect fails without showing it."""
    url = f"postgresql+psycopg://bot:{PG_SECRET}@127.0.0.1:1/acchub"
    config = _config(tmp_path, secret_account, url, smtp_tls_server)
    outputs = _run_all(config, secret_account, {SMTP_ENV: SMTP_PASSWORD})
    assert "127.0.0.1" in "\n".join(outputs)  # the failure is reported, with the host
    _assert_no_secret(outputs)
