"""The digest as an accountant receives it, through an SMTP server that requires STARTTLS and
a login: both parts, the subject's counts, escaping, and the French translation."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from tests import mailfactory, support
from tests.conftest import SMTP_PASSWORD, SMTP_USER
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def _send_digest(
    tmp_path: Path,
    account: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
    language: str,
    env_password: str,
) -> EmailMessage:
    accounts = {"invites": account}
    account.append(mailfactory.invitation(tenant="kestrel.onmicrosoft.com", hub_name=HOSTILE))
    account.append(mailfactory.invitation(tenant="osprey.onmicrosoft.com", company="Osprey SA"))
    account.append(mailfactory.lookalike())
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=None,
        extra={
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "starttls",
                "username": SMTP_USER,
                "password_env": "ACCHUB_TEST_SMTP_PASSWORD",
                "ca_file": str(smtp.ca_file),
            },
            "digest": {"language": language},
        },
    )
    support.cli(
        config,
        "run",
        "--once",
        accounts=accounts,
        env={"ACCHUB_TEST_SMTP_PASSWORD": env_password},
    )
    [received] = smtp.wait_for(1, timeout=10)
    assert received.tls and received.login == SMTP_USER
    return received.message


def test_digest_over_starttls_with_login_is_consistent_and_escaped(
    tmp_path: Path, imap_account: ImapAccount, smtp_tls_server: SmtpServer, database_url: str
) -> None:
    """Both parts list the same clients and links, the subject counts them, and a hostile
    client name is text in HTML and verbatim in the plain part."""
    message = _send_digest(
        tmp_path, imap_account, smtp_tls_server, database_url, "en", SMTP_PASSWORD
    )
    subject = str(message["Subject"])
    assert "2 new clients" in subject and "\n" not in subject
    text, html = _parts(message)
    for link in (
        "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1",
        "https://businesscentral.dynamics.com/osprey.onmicrosoft.com?redirectedfromsignup=1",
    ):
        assert link in text and link in html
    assert "Osprey SA" in text and "Osprey SA" in html
    assert HOSTILE in text
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "evil[.]example" in text and "evil[.]example" in html
    assert 'href="https://businesscentral.dynamics.com.evil' not in html


def test_digest_in_french_when_configured(
    tmp_path: Path, imap_account: ImapAccount, smtp_tls_server: SmtpServer, database_url: str
) -> None:
    """With digest.language: fr the subject and both parts are in French."""
    message = _send_digest(
        tmp_path, imap_account, smtp_tls_server, database_url, "fr", SMTP_PASSWORD
    )
    subject = str(message["Subject"])
    assert subject.startswith("Invitations Business Central")
    assert "2 nouveaux clients" in subject
    text, html = _parts(message)
    assert "Nouveaux clients" in text and "Nouveaux clients" in html
    assert "Osprey SA" in text and "Osprey SA" in html
