"""An unattended service without passwords, as an ops team runs it: the mailbox is read over
XOAUTH2 from a real Dovecot and the digest and the confirmation replies go out through an SMTP
server that offers nothing but XOAUTH2, with each of the three grants.

Tokens come from the local OAuth server, which checks client secrets, certificate-signed client
assertions and service-account assertions as Entra ID and Google do, and which says whether an
app's token may open a mailbox (Exchange's application access policy). Everything is counted
where the user sees it: replies and digests per recipient at the SMTP server, clients in the
database, files on disk, lines on the terminal.
"""

from __future__ import annotations

import email
import json
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount
from tests.servers.dovecot_oauth import OAuthDovecotServer
from tests.servers.oauth import OAuthTestServer, app_key_and_certificate
from tests.servers.smtp import Received, SmtpServer
from tests.servers.tls import TlsFiles

pytestmark = pytest.mark.integration

MX = "mx.firm.example"
ALICE = "alice@firm.example"
ADMIN = "admin@firm.example"
SENDER = "digest@firm.example"
SECRET = "App-Secret-Leak-5tGh7Yk"
GRANTS = ("device_code", "client_secret", "client_certificate", "service_account")
SERVICE_ACCOUNT = "mailbot@firm-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def token_server() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(access_lifetime=600) as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(tls_ca: TlsFiles, token_server: OAuthTestServer) -> Iterator[OAuthDovecotServer]:
    with OAuthDovecotServer(token_server.introspection_url, tls=tls_ca) as server:
        yield server


@pytest.fixture
def tokens(token_server: OAuthTestServer) -> OAuthTestServer:
    """The module's token server with no app registered and its counters at zero."""
    token_server.fail_next.clear()
    token_server.requests.clear()
    token_server.app_secret = None
    token_server.app_certificate = None
    token_server.app_mailboxes = set()
    token_server.service_accounts = {}
    return token_server


@pytest.fixture
def mailbox(oauth_dovecot: OAuthDovecotServer) -> ImapAccount:
    """A mailbox of the Workspace/Microsoft 365 domain, its address as the IMAP user."""
    username = f"invites-{uuid.uuid4().hex[:8]}@firm.example"
    oauth_dovecot.add_user(username, f"pw-{uuid.uuid4().hex}")
    return oauth_dovecot.account(username)


@pytest.fixture
def smtp(tls_ca: TlsFiles, tokens: OAuthTestServer) -> Iterator[SmtpServer]:
    """An SMTP server offering XOAUTH2 only, as Exchange Online does after Basic auth."""
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as server:
        yield server


def sign_in(
    grant: str, tmp_path: Path, tokens: OAuthTestServer, users: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Set the app up at the token server as an admin would, and write what the config needs.

    ``users`` maps a token-store name to its address. Returns the ``oauth:`` block and the
    secrets written (to look for them in every output).
    """
    base: dict[str, Any] = {
        "provider": "custom",
        "client_id": tokens.client_id,
        "token_endpoint": tokens.token_endpoint,
        "device_endpoint": tokens.device_endpoint,
        "scope": "mail offline_access",
    }
    if grant == "device_code":
        refresh = []
        for name, address in users.items():
            token = tokens.issue_refresh_token(address)
            path = tmp_path / "tokens" / f"{name}.json"
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.write_text(json.dumps({"refresh_token": token}), encoding="utf-8")
            path.chmod(0o600)
            refresh.append(token)
        return base, refresh
    tokens.app_mailboxes = set(users.values())
    if grant == "client_secret":
        tokens.app_secret = SECRET
        (tmp_path / "app-secret.txt").write_text(SECRET + "\n", encoding="utf-8")
        return {**base, "grant": "client_credentials", "client_secret_file": "app-secret.txt"}, [
            SECRET
        ]
    key_pem, cert_pem = app_key_and_certificate()
    if grant == "client_certificate":
        tokens.app_certificate = cert_pem
        (tmp_path / "app.pem").write_bytes(cert_pem + key_pem)
        return {**base, "grant": "client_credentials", "client_certificate_file": "app.pem"}, [
            _key_body(key_pem)
        ]
    public = serialization.load_pem_private_key(key_pem, None).public_key()
    tokens.service_accounts = {
        SERVICE_ACCOUNT: public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    }
    (tmp_path / "service-account.json").write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": SERVICE_ACCOUNT,
                "private_key": key_pem.decode(),
                "private_key_id": "k1",
                "token_uri": tokens.token_endpoint,
            }
        ),
        encoding="utf-8",
    )
    return {**base, "grant": "service_account", "service_account_file": "service-account.json"}, [
        _key_body(key_pem)
    ]


def _key_body(key_pem: bytes) -> str:
    """A stretch from the middle of a private key: present in any output that leaks it."""
    return key_pem.decode().splitlines()[5]


def write_config(
    tmp_path: Path,
    mailbox: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
    oauth: dict[str, Any],
    *,
    smtp_auth: dict[str, Any] | None = None,
) -> Path:
    config = {
        "database": {"url": database_url},
        "mailboxes": [
            {
                "name": "invites",
                "imap": {
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "security": "starttls",
                    "username": mailbox.username,
                    "ca_file": str(mailbox.ca_file),
                    "timeout_seconds": 10,
                    "oauth": oauth,
                },
                "digest_to": [ADMIN],
                "forwarders": [ALICE],
                "trusted_authserv_id": MX,
                "confirm": {"enabled": True},
            }
        ],
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "starttls",
            "username": SENDER,
            "ca_file": str(smtp.ca_file),
            "timeout_seconds": 10,
            **(smtp_auth if smtp_auth is not None else {"oauth": oauth}),
        },
        "digest": {"from": SENDER, "schedule": "immediate"},
        "verification": {"live_check": False},
        "logging": {"level": "DEBUG"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def forward(n: int) -> bytes:
    """Alice forwards a client's invitation as an attachment, vouched for by the firm's MX."""
    invitation = mailfactory.invitation(
        tenant=f"tenant{n:03d}.onmicrosoft.com",
        company=f"Client {n} Ltd",
        message_id=f"<inv-{n}@k.example>",
    )
    outer = EmailMessage()
    outer["From"] = ALICE
    outer["To"] = "invites@firm.example"
    outer["Subject"] = "FW: You have been invited to Dynamics 365 Business Central"
    outer["Message-ID"] = f"<fw-{n}-{uuid.uuid4().hex[:6]}@firm.example>"
    outer.set_content("A new client, please register it.")
    outer.add_attachment(email.message_from_bytes(invitation))
    auth = f"{MX}; spf=pass smtp.mailfrom={ALICE}; dkim=pass header.d=firm.example; dmarc=pass (p=reject) header.from=firm.example"  # noqa: E501 - one header as a server writes it
    return f"Authentication-Results: {auth}\r\n".encode() + outer.as_bytes()


def replies(received: list[Received]) -> list[Received]:
    return [r for r in received if r.message.get("Auto-Submitted") == "auto-replied"]


def digests(received: list[Received]) -> list[Received]:
    return [r for r in received if r.message.get("Auto-Submitted") == "auto-generated"]


def cli(config: Path, *args: str, check: bool = True) -> Any:
    return support.cli(config, *args, accounts={}, check=check)


@pytest.mark.parametrize("grant", GRANTS)
def test_the_service_reads_and_sends_with_each_grant_and_stores_nothing_for_app_only(
    tmp_path: Path,
    tokens: OAuthTestServer,
    mailbox: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
    grant: str,
) -> None:
    oauth, secrets = sign_in(
        grant, tmp_path, tokens, {"invites": mailbox.username, "@smtp": SENDER}
    )
    config = write_config(tmp_path, mailbox, smtp, database_url, oauth)
    mailbox.append(forward(1))

    online = cli(config, "check-config", "--online")
    assert "signed in (OAuth" in online.stdout and smtp.received == []
    run = cli(config, "run", "--once")
    received = smtp.wait_for(2, timeout=20)

    [reply] = replies(received)
    [digest] = digests(received)
    assert reply.rcpt_tos == (ALICE,) and digest.rcpt_tos == (ADMIN,)
    assert "Client 1 Ltd" in reply.message["Subject"]
    assert all(r.login == SENDER and r.tls for r in received)
    listed = json.loads(cli(config, "clients", "list", "--json").stdout)
    assert [c["client_url"] for c in listed] == [
        "https://businesscentral.dynamics.com/tenant001.onmicrosoft.com"
    ]
    # Dovecot took the token (introspected, or as the app granted this mailbox).
    assert {m for m, _ in smtp.auth_attempts} == {"XOAUTH2"}
    if grant != "device_code":
        assert not (tmp_path / "tokens").exists()
    # A second run finds nothing new and sends nothing more.
    again = cli(config, "--log-level", "debug", "run", "--once")
    assert len(smtp.received) == 2
    # No secret, key, assertion or token in any output, at DEBUG, nor in the mail or database.
    outputs = [r.stdout + r.stderr for r in (online, run, again)]
    for command in LOOK_AT:
        result = cli(config, "--log-level", "debug", *command, check=False)
        outputs.append(result.stdout + result.stderr)
    outputs += [r.message.as_string() for r in received]
    outputs.append(support.database_dump(database_url))
    assertions = tokens.sent_assertions()
    assert grant in ("device_code", "client_secret") or assertions
    leaks = [*secrets, *tokens.issued_tokens(), *assertions]
    for secret in leaks:
        assert not any(secret in output for output in outputs), "a secret or token leaked"


#: Every command an operator runs against a working setup.
LOOK_AT: tuple[tuple[str, ...], ...] = (
    ("check-config",),
    ("status",),
    ("status", "--json"),
    ("auth", "status"),
    ("auth", "status", "--json"),
    ("clients", "list", "--json"),
    ("digest", "preview"),
)


def status(config: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = support.cli(config, "status", "--json", accounts={}, env=env, check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, report


def test_a_revoked_sending_grant_holds_the_mail_then_delivers_it_once_and_says_so(
    tmp_path: Path,
    tokens: OAuthTestServer,
    mailbox: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
) -> None:
    """The sending sign-in is revoked: the mailbox is still read and the client registered; the
    digest and the reply wait, ``status`` says why and exits 1. After ``auth login --smtp`` the
    next digest goes out saying what was held back, and the held mail goes out once."""
    oauth, (_imap_token, smtp_token) = sign_in(
        "device_code", tmp_path, tokens, {"invites": mailbox.username, "@smtp": SENDER}
    )
    config = write_config(tmp_path, mailbox, smtp, database_url, oauth)
    tokens.revoke_refresh_token(smtp_token)
    mailbox.append(forward(1))
    cli(config, "run", "--once")
    assert smtp.received == []
    assert len(json.loads(cli(config, "clients", "list", "--json").stdout)) == 1

    code, report = status(config)
    sending = report["sending"]
    assert code == 1 and report["mailboxes"][0]["healthy"] is True
    assert (sending["held_digests"], sending["held_confirmations"]) == (1, 1)
    assert sending["token"]["grant"] == "device_code"
    assert "acchub-mailbot auth login --smtp" in sending["last_error"]
    text = cli(config, "status", check=False).stdout
    assert "sending (OAuth device_code): FAILING, 1 digests and 1 replies held back" in text

    tokens.device_username = SENDER
    cli(config, "auth", "login", "--smtp")
    mailbox.append(forward(2))
    cli(config, "run", "--once")  # the new mail at once; the held mail waits for its retry
    cli(config, "digest", "send-now")  # ... which an operator may bring forward
    received = smtp.wait_for(4, timeout=20)
    cli(config, "run", "--once")
    cli(config, "digest", "send-now", check=False)
    assert len(smtp.received) == 4

    subjects = [r.message["Subject"] for r in replies(received)]
    assert sorted("Client 1 Ltd" in x for x in subjects) == [False, True]
    assert sum("Client 2 Ltd" in x for x in subjects) == 1
    assert [r.rcpt_tos for r in replies(received)] == [(ALICE,), (ALICE,)]
    assert len({r.message["Message-ID"] for r in received}) == 4
    bodies = [support.text_of(r.message) for r in digests(received)]
    assert [r.rcpt_tos for r in digests(received)] == [(ADMIN,), (ADMIN,)]
    [told] = [b for b in bodies if "== Sending ==" in b]
    assert "1 earlier digest could not be sent." in told
    assert "1 reply to a forwarder could not be sent." in told
    assert "Client 2 Ltd" in told
    code, report = status(config)
    assert code == 0 and report["sending"]["healthy"] is True


def test_a_password_is_refused_and_the_mail_goes_out_once_after_the_config_is_fixed(
    tmp_path: Path,
    tokens: OAuthTestServer,
    mailbox: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
) -> None:
    oauth, _ = sign_in(
        "client_secret", tmp_path, tokens, {"invites": mailbox.username, "@smtp": SENDER}
    )
    password = {"password_env": "SMTP_PASSWORD"}
    config = write_config(tmp_path, mailbox, smtp, database_url, oauth, smtp_auth=password)
    env = {"SMTP_PASSWORD": "Smtp-Password-Leak-3xQ"}
    mailbox.append(forward(1))
    run = support.cli(config, "run", "--once", accounts={}, env=env)
    assert smtp.received == [] and smtp.auth_attempts == []
    code, report = status(config, env)
    assert code == 1 and report["sending"]["held_digests"] == 1
    assert "smtp.oauth" in report["sending"]["last_error"]

    config = write_config(tmp_path, mailbox, smtp, database_url, oauth)
    cli(config, "digest", "send-now")
    received = smtp.wait_for(2, timeout=20)
    cli(config, "run", "--once")
    cli(config, "digest", "send-now", check=False)
    assert len(smtp.received) == 2
    assert len(replies(received)) == 1 and len(digests(received)) == 1
    assert "Smtp-Password-Leak-3xQ" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("grant", "break_it", "fix"),
    [
        (
            "client_secret",
            lambda tokens: setattr(tokens, "app_secret", "Rotated-By-An-Admin-8v"),
            "the client secret is wrong or expired — create a new one",
        ),
        (
            "client_certificate",
            lambda tokens: tokens.fail_next.extend(
                [
                    (
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "AADSTS65001: The user "
                            "or administrator has not consented to use the application.",
                        },
                    )
                ]
                * 4
            ),
            "an admin must grant admin consent",
        ),
        (
            "client_secret",
            lambda tokens: tokens.app_mailboxes.clear(),
            "check that the app has been granted this mailbox",
        ),
        (
            "service_account",
            lambda tokens: tokens.fail_next.extend(
                [
                    (
                        401,
                        {
                            "error": "unauthorized_client",
                            "error_description": "Client is "
                            "unauthorized to retrieve access tokens using this method.",
                        },
                    )
                ]
                * 4
            ),
            "domain-wide delegation is not granted",
        ),
    ],
    ids=["wrong-secret", "no-consent", "mailbox-not-granted", "no-delegation"],
)
def test_check_config_online_says_in_one_line_what_to_fix(
    tmp_path: Path,
    tokens: OAuthTestServer,
    mailbox: ImapAccount,
    smtp: SmtpServer,
    database_url: str,
    grant: str,
    break_it: Any,
    fix: str,
) -> None:
    oauth, secrets = sign_in(
        grant, tmp_path, tokens, {"invites": mailbox.username, "@smtp": SENDER}
    )
    config = write_config(tmp_path, mailbox, smtp, database_url, oauth)
    break_it(tokens)
    result = cli(config, "check-config", "--online", check=False)
    assert result.returncode == 1, result
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert problems and any(fix in line for line in problems), result.stderr
    assert "Traceback" not in result.stderr
    assert smtp.received == []
    for secret in [*secrets, *tokens.issued_tokens(), *tokens.sent_assertions()]:
        assert secret not in result.stdout + result.stderr
