"""Sending with OAuth: XOAUTH2 and OAUTHBEARER against a real aiosmtpd server whose tokens come
from the local OAuth server, configured as a user writes ``smtp.oauth``.

Counted where the user sees it: messages at the SMTP server, token grants at the OAuth server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from acchub_mailbot.config import ConfigError, SmtpSettings, parse_settings
from acchub_mailbot.errors import DeliveryFailed
from acchub_mailbot.mail.oauth.settings import SMTP_TOKEN_NAME
from acchub_mailbot.mail.oauth.store import StoredTokens, TokenStore
from acchub_mailbot.mail.outbox import send
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth import OAuthTestServer, app_key_and_certificate
from tests.servers.smtp import SmtpServer
from tests.servers.tls import TlsFiles

pytestmark = pytest.mark.integration

SENDER = "digest@firm.example"


@pytest.fixture
def tokens() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(access_lifetime=600) as server:
        yield server


def _settings(
    tmp_path: Path, smtp: SmtpServer, tokens: OAuthTestServer, **extra: object
) -> SmtpSettings:
    data = {
        "mailboxes": [
            {"name": "invites", "imap": {"host": "127.0.0.1", "username": "x", "password_env": "P"}}
        ],
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "starttls",
            "username": SENDER,
            "ca_file": str(smtp.ca_file),
            "oauth": {
                "provider": "custom",
                "client_id": tokens.client_id,
                "token_endpoint": tokens.token_endpoint,
                "scope": "smtp offline_access",
            },
            **extra,
        },
    }
    settings = parse_settings(data, environ={"P": "secret"}, base_dir=tmp_path)
    assert settings.smtp is not None
    return settings.smtp


def _signed_in(tmp_path: Path, tokens: OAuthTestServer) -> TokenStore:
    """The sending mailbox's refresh token where ``auth login --smtp`` leaves it."""
    store = TokenStore(tmp_path / "tokens" / f"{SMTP_TOKEN_NAME}.json")
    store.save(StoredTokens(refresh_token=tokens.issue_refresh_token(SENDER)))
    return store


def _message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = "dana@firm.example"
    msg["Subject"] = f"Business Central invitations: digest {n}"
    msg["Message-ID"] = f"<digest-{n}@firm.example>"
    msg.set_content("one new client")
    return msg


@pytest.mark.parametrize("offered", [("XOAUTH2",), ("OAUTHBEARER", "XOAUTH2")])
def test_the_digest_goes_out_with_an_access_token(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer, offered: tuple[str, ...]
) -> None:
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens, mechanisms=offered) as smtp:
        settings = _settings(tmp_path, smtp, tokens)
        _signed_in(tmp_path, tokens)
        send(settings, _message(1))
        send(settings, _message(2))
        received = smtp.wait_for(2)
    assert [r.message["Message-ID"] for r in received] == [
        "<digest-1@firm.example>",
        "<digest-2@firm.example>",
    ]
    assert all(r.login == SENDER and r.tls for r in received)
    # OAUTHBEARER (RFC 7628) where offered, else XOAUTH2; the cached token serves both sends.
    assert {m for m, _ in smtp.auth_attempts} == {offered[0]}
    assert len(tokens.grants()) == 1


def test_a_refused_token_is_refreshed_and_the_send_succeeds(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        settings = _settings(tmp_path, smtp, tokens)
        _signed_in(tmp_path, tokens)
        send(settings, _message(1))
        tokens.revoke_access_tokens()  # the cached token is still "valid" to the client
        send(settings, _message(2))
        received = smtp.wait_for(2)
    assert len(received) == 2
    assert smtp.auth_failures == 1
    assert len(tokens.grants()) == 2


def test_a_token_that_expires_between_two_digests_is_refreshed_before_the_second(
    tmp_path: Path, tls_ca: TlsFiles
) -> None:
    with (
        OAuthTestServer(access_lifetime=2) as tokens,
        SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp,
    ):
        settings = _settings(tmp_path, smtp, tokens)
        _signed_in(tmp_path, tokens)
        send(settings, _message(1))
        time.sleep(2.5)  # the access token's whole life
        send(settings, _message(2))
        assert len(smtp.wait_for(2)) == 2
        # Refreshed before use, not after a refusal.
        assert smtp.auth_failures == 0
        assert len(tokens.grants()) == 2


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.7.30 Basic authentication is not supported for Client Submission",
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
    ],
)
def test_exchange_refusing_a_password_says_to_sign_in_with_oauth(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer, reply: str
) -> None:
    with SmtpServer(
        starttls=True, tls=tls_ca, oauth=tokens, mechanisms=("LOGIN", "XOAUTH2"),
        refuse_passwords=reply,
    ) as smtp:  # fmt: skip
        data = {
            "mailboxes": [
                {"name": "m", "imap": {"host": "127.0.0.1", "username": "x", "password_env": "P"}}
            ],
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "starttls",
                "username": SENDER,
                "password_env": "P",
                "ca_file": str(smtp.ca_file),
            },
        }
        settings = parse_settings(data, environ={"P": "Pw-Leak-6yH"}, base_dir=tmp_path).smtp
        assert settings is not None
        with pytest.raises(DeliveryFailed) as failure:
            send(settings, _message(1))
        assert smtp.received == [] and smtp.auth_failures == 1
    text = str(failure.value)
    assert reply.split(" ")[1] in text
    assert "this server takes no passwords; fix: sign in with OAuth 2.0 (set smtp.oauth" in text
    assert "Pw-Leak-6yH" not in text


def test_a_revoked_sign_in_keeps_the_digest_and_says_what_to_do(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        settings = _settings(tmp_path, smtp, tokens)
        store = _signed_in(tmp_path, tokens)
        stored = store.load()
        assert stored is not None
        tokens.revoke_all_refresh_tokens()
        with pytest.raises(DeliveryFailed) as failure:
            send(settings, _message(1))
        assert smtp.received == []
    text = str(failure.value)
    assert "OAuth sign-in for digest@firm.example" in text
    assert "acchub-mailbot auth login --smtp" in text
    assert stored.refresh_token not in text


def test_a_token_for_another_mailbox_is_refused_with_the_fix(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        settings = _settings(tmp_path, smtp, tokens)
        store = TokenStore(tmp_path / "tokens" / f"{SMTP_TOKEN_NAME}.json")
        store.save(StoredTokens(refresh_token=tokens.issue_refresh_token("someone@else.example")))
        with pytest.raises(DeliveryFailed, match="freshly refreshed token for digest@firm"):
            send(settings, _message(1))
        assert smtp.received == []
        assert smtp.auth_failures == 2  # the cached token, then one fresh token: no more


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"password_env": "P"}, "smtp.oauth"),
        ({"security": "none"}, "smtp.security"),
        ({"username": None}, "smtp.username"),
    ],
)
def test_config_mistakes_name_the_key(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer, extra: dict[str, object], key: str
) -> None:
    with (
        SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp,
        pytest.raises(ConfigError, match=key.replace(".", r"\.")),
    ):
        _settings(tmp_path, smtp, tokens, **extra)


def _run_cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acchub_mailbot", *args, "--config", str(config)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_auth_login_smtp_then_the_service_sends_its_digest_with_oauth(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer, dovecot: DovecotServer
) -> None:
    """As a user runs it: the status says the sending sign-in is missing and how to fix it;
    ``auth login --smtp`` signs in by device code; ``run --once`` then delivers the digest
    through XOAUTH2, once."""
    account = dovecot.new_account("smtpoauth")
    tokens.device_username = SENDER
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        config = {
            "mailboxes": [
                {
                    "name": "invites",
                    "imap": {
                        "host": account.host,
                        "port": account.port,
                        "security": "starttls",
                        "username": account.username,
                        "password_env": "IMAP_PASSWORD",
                        "ca_file": str(account.ca_file),
                    },
                    "digest_to": ["dana@firm.example"],
                }
            ],
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "username": SENDER,
                "ca_file": str(smtp.ca_file),
                "oauth": {
                    "provider": "custom",
                    "client_id": tokens.client_id,
                    "token_endpoint": tokens.token_endpoint,
                    "device_endpoint": tokens.device_endpoint,
                    "scope": "smtp offline_access",
                },
            },
            "digest": {"from": SENDER, "schedule": "immediate", "send_empty": True},
            "verification": {"live_check": False},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {"IMAP_PASSWORD": account.password}
        before = _run_cli(path, env, "auth", "status")
        assert before.returncode == 1, before
        assert "@smtp: NOT signed in" in before.stdout
        assert "fix: run `acchub-mailbot auth login --smtp`" in before.stdout

        offline = _run_cli(path, env, "check-config", "--online")
        assert offline.returncode == 1, offline
        assert f"mailbox invites: IMAP {account.username}" in offline.stdout
        assert "signed in (password) and logged out" in offline.stdout
        assert "problem: smtp: digest@firm.example" in offline.stderr
        assert "auth login --smtp" in offline.stderr

        login = _run_cli(path, env, "auth", "login", "--smtp")
        assert login.returncode == 0, login
        assert f"refresh token saved to {tmp_path / 'tokens' / '@smtp.json'}" in login.stdout

        online = _run_cli(path, env, "check-config", "--online")
        assert online.returncode == 0, online
        assert "signed in (OAuth device_code) and logged out, nothing sent" in online.stdout
        assert smtp.received == []

        run = _run_cli(path, env, "run", "--once")
        assert run.returncode == 0, run
        received = smtp.wait_for(1)
        time.sleep(0.5)
        assert len(smtp.received) == 1
    [digest] = received
    assert digest.rcpt_tos == ("dana@firm.example",)
    assert digest.login == SENDER and digest.tls
    # check-config --online signed in once, the run once: each with the cached token.
    assert smtp.auth_attempts == [("XOAUTH2", SENDER), ("XOAUTH2", SENDER)]
    for output in (before, offline, login, online, run):
        for token in tokens.issued_tokens():
            assert token not in output.stdout + output.stderr


# --- app-only sign-in ---------------------------------------------------------------------------


def _app_settings(
    tmp_path: Path, smtp: SmtpServer, tokens: OAuthTestServer, oauth: dict[str, object]
) -> SmtpSettings:
    base = {"provider": "custom", "client_id": tokens.client_id}
    base["token_endpoint"] = tokens.token_endpoint
    return _settings(tmp_path, smtp, tokens, oauth={**base, **oauth})


def _assert_nothing_stored(tmp_path: Path) -> None:
    assert not (tmp_path / "tokens").exists()


def test_client_credentials_with_a_secret_file_sends_as_the_app(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    tokens.app_secret = "app-secret-value-0123456789"
    tokens.app_mailboxes = {SENDER}
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(tokens.app_secret + "\n", encoding="utf-8")
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        oauth = {"grant": "client_credentials", "client_secret_file": "secret.txt"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        send(settings, _message(1))
        send(settings, _message(2))
        assert len(smtp.wait_for(2)) == 2
    [grant] = tokens.grants("client_credentials")
    assert grant.form["client_secret"] == tokens.app_secret
    _assert_nothing_stored(tmp_path)


def test_client_credentials_with_a_certificate_signs_a_client_assertion(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    key_pem, cert_pem = app_key_and_certificate()
    tokens.app_certificate = cert_pem
    tokens.app_mailboxes = {SENDER}
    (tmp_path / "app.pem").write_bytes(cert_pem + key_pem)
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        oauth = {"grant": "client_credentials", "client_certificate_file": "app.pem"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        send(settings, _message(1))
        assert len(smtp.wait_for(1)) == 1
    [grant] = tokens.grants("client_credentials")
    assert "client_secret" not in grant.form
    assert grant.form["client_assertion_type"].endswith("client-assertion-type:jwt-bearer")
    _assert_nothing_stored(tmp_path)
    # The token server takes an assertion once (RFC 7523 section 3): replayed, it is refused.
    replayed = httpx.post(tokens.token_endpoint, data=grant.form, timeout=5)
    assert replayed.status_code == 401 and "AADSTS700025" in replayed.text


def test_every_token_request_signs_a_new_assertion(tmp_path: Path, tls_ca: TlsFiles) -> None:
    key_pem, cert_pem = app_key_and_certificate()
    (tmp_path / "app.pem").write_bytes(cert_pem + key_pem)
    with (
        OAuthTestServer(access_lifetime=1) as tokens,
        SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp,
    ):
        tokens.app_certificate = cert_pem
        tokens.app_mailboxes = {SENDER}
        oauth = {"grant": "client_credentials", "client_certificate_file": "app.pem"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        send(settings, _message(1))
        time.sleep(1.5)  # the token has expired: the next send asks for a new one
        send(settings, _message(2))
        assert len(smtp.wait_for(2)) == 2
        forms = [g.form["client_assertion"] for g in tokens.grants("client_credentials")]
    assert len(forms) == 2 and forms[0] != forms[1]


def test_a_certificate_the_app_does_not_know_is_explained(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    _key, registered = app_key_and_certificate()
    tokens.app_certificate = registered
    other_key, other_cert = app_key_and_certificate()
    (tmp_path / "app.pem").write_bytes(other_cert + other_key)
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        oauth = {"grant": "client_credentials", "client_certificate_file": "app.pem"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        with pytest.raises(DeliveryFailed) as failure:
            send(settings, _message(1))
        assert smtp.received == []
    text = str(failure.value)
    assert "upload this certificate (oauth.client_certificate_file) to the app registration" in text
    assert "BEGIN" not in text and other_key.decode()[40:80] not in text


def test_a_mailbox_not_granted_to_the_app_is_refused_with_the_fix(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    tokens.app_secret = "app-secret-value-0123456789"
    tokens.app_mailboxes = {"someone-else@firm.example"}
    (tmp_path / "secret.txt").write_text(tokens.app_secret, encoding="utf-8")
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        oauth = {"grant": "client_credentials", "client_secret_file": "secret.txt"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        with pytest.raises(DeliveryFailed, match="granted this mailbox"):
            send(settings, _message(1))
        assert smtp.received == []


def test_a_google_service_account_acts_as_the_mailbox(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer
) -> None:
    key_pem, _cert = app_key_and_certificate()
    public = serialization.load_pem_private_key(key_pem, None).public_key()
    email = "mailbot@firm-project.iam.gserviceaccount.com"
    tokens.service_accounts = {
        email: public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    }
    key_file = tmp_path / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": email,
                "private_key": key_pem.decode(),
                "private_key_id": "k1",
                "token_uri": tokens.token_endpoint,
            }
        ),
        encoding="utf-8",
    )
    with SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp:
        oauth = {"grant": "service_account", "service_account_file": "service-account.json"}
        settings = _app_settings(tmp_path, smtp, tokens, oauth)
        send(settings, _message(1))
        [received] = smtp.wait_for(1)
    assert received.login == SENDER
    assert len(tokens.grants("urn:ietf:params:oauth:grant-type:jwt-bearer")) == 1
    _assert_nothing_stored(tmp_path)


@pytest.mark.parametrize(
    ("oauth", "words"),
    [
        ({"grant": "client_credentials"}, "needs the app's credential"),
        ({"grant": "service_account"}, "needs service_account_file"),
        (
            {"grant": "client_credentials", "client_secret_env": "X", "client_secret_file": "f"},
            "set one of",
        ),
    ],
)
def test_app_only_config_mistakes_name_the_key(
    tmp_path: Path, tls_ca: TlsFiles, tokens: OAuthTestServer, oauth: dict[str, object], words: str
) -> None:
    with (
        SmtpServer(starttls=True, tls=tls_ca, oauth=tokens) as smtp,
        pytest.raises(ConfigError, match=r"smtp\.oauth") as failure,
    ):
        _app_settings(tmp_path, smtp, tokens, oauth)
    assert words in str(failure.value)
