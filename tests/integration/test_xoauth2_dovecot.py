"""XOAUTH2 against a real Dovecot whose ``oauth2`` passdb introspects tokens at a local server.

Access tokens live two seconds, so every test sees one expire: the provider must refresh it
(before use, or after Dovecot refused it), persist each rotated refresh token with mode 0600,
and turn a revoked refresh token into an error that tells the operator what to run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from acchub_mailbot.config import ImapSettings
from acchub_mailbot.mail.oauth.errors import OAuthPermanentError
from acchub_mailbot.mail.oauth.provider import TokenProvider, xoauth2_login
from acchub_mailbot.mail.oauth.settings import OAuthSettings
from acchub_mailbot.mail.oauth.store import StoredTokens, TokenStore
from tests.servers.dovecot import ImapAccount
from tests.servers.dovecot_oauth import OAuthDovecotServer
from tests.servers.oauth import OAuthTestServer
from tests.servers.tls import TlsFiles

pytestmark = pytest.mark.integration

LIFETIME = 2.0


@pytest.fixture(scope="module")
def token_server() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(access_lifetime=LIFETIME) as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(tls_ca: TlsFiles, token_server: OAuthTestServer) -> Iterator[OAuthDovecotServer]:
    with OAuthDovecotServer(token_server.introspection_url, tls=tls_ca) as server:
        yield server


@pytest.fixture
def tokens(token_server: OAuthTestServer) -> OAuthTestServer:
    """The module's token server, back to honest two-second tokens, its counters at zero."""
    token_server.access_lifetime = LIFETIME
    token_server.advertised_expires_in = None
    token_server.fail_next.clear()
    token_server.requests.clear()
    token_server.introspections.clear()
    return token_server


@pytest.fixture
def account(oauth_dovecot: OAuthDovecotServer) -> ImapAccount:
    if not oauth_dovecot.running:
        oauth_dovecot.start()
    return oauth_dovecot.new_account("oauth")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def signed_in(
    tmp_path: Path, tokens: OAuthTestServer, account: ImapAccount, http: httpx.Client
) -> TokenProvider:
    """A provider for ``account`` whose store holds a refresh token, as after auth login."""
    store = TokenStore(tmp_path / "tokens" / "invites.json")
    store.save(StoredTokens(refresh_token=tokens.issue_refresh_token(account.username)))
    settings = OAuthSettings(
        provider="custom",
        client_id=tokens.client_id,
        token_endpoint=tokens.token_endpoint,
        scope="imap offline_access",
    )
    # A margin below the two-second lifetime; the default minute would refresh on every call.
    return TokenProvider(settings, store, mailbox="invites", http=http, refresh_margin=0.5)


@contextlib.contextmanager
def connect(account: ImapAccount) -> Iterator[IMAPClient]:
    client = IMAPClient(account.host, port=account.port, ssl=False, timeout=10)
    try:
        client.starttls(account.ssl_context())
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()


def stored_refresh_token(provider: TokenProvider) -> str:
    stored = provider.store.load()
    assert stored is not None
    assert stat.S_IMODE(provider.store.path.stat().st_mode) == 0o600
    return stored.refresh_token


def test_xoauth2_login_works_across_token_expiry(
    tmp_path: Path,
    tokens: OAuthTestServer,
    account: ImapAccount,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An expired token is replaced before the next login; each rotation is saved 0600."""
    provider = signed_in(tmp_path, tokens, account, http)
    first_refresh = stored_refresh_token(provider)
    with caplog.at_level(logging.DEBUG), connect(account) as client:
        xoauth2_login(client, account.username, provider)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        first_token = provider.access_token()
        assert len(tokens.grants()) == 1
        second_refresh = stored_refresh_token(provider)
        assert second_refresh != first_refresh
        assert not tokens.is_refresh_token_valid(first_refresh)

        time.sleep(LIFETIME + 0.3)
        assert not tokens.is_active(first_token)
        # The session that signed in with it goes on: IMAP checks a token only at login.
        client.noop()

        with connect(account) as again:
            xoauth2_login(again, account.username, provider)
            assert again.select_folder("INBOX")[b"EXISTS"] == 0
        second_token = provider.access_token()

    assert second_token != first_token
    assert len(tokens.grants()) == 2
    assert tokens.grants()[1].form["refresh_token"] == second_refresh
    third_refresh = stored_refresh_token(provider)
    assert third_refresh not in (first_refresh, second_refresh)
    assert tokens.is_refresh_token_valid(third_refresh)
    # Refreshed before use: Dovecot never saw the expired token.
    assert [active for _, active in tokens.introspections[-2:]] == [True, True]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (first_token, second_token, first_refresh, second_refresh, third_refresh):
        assert secret not in logged


def test_token_refused_by_the_server_is_refreshed_after_a_dropped_session(
    tmp_path: Path,
    tokens: OAuthTestServer,
    account: ImapAccount,
    http: httpx.Client,
) -> None:
    """The token endpoint promised an hour, Dovecot stops accepting the token after 2 s: when
    the session is lost and the client signs in again with its cached token, the
    refusal invalidates it and one retry with a refreshed token succeeds."""
    tokens.advertised_expires_in = 3600
    provider = signed_in(tmp_path, tokens, account, http)
    with connect(account) as client:
        xoauth2_login(client, account.username, provider)
        client.select_folder("INBOX")
        cached = provider.access_token()
        # The connection is lost (the socket is cut under the client) ...
        client.socket().shutdown(socket.SHUT_RDWR)
        with pytest.raises((IMAPClientError, OSError)):
            client.noop()
    # ... and the client comes back after the token's real lifetime.
    time.sleep(LIFETIME + 0.3)
    assert not tokens.is_active(cached)
    assert len(tokens.grants()) == 1

    with connect(account) as client:
        xoauth2_login(client, account.username, provider)
        client.select_folder("INBOX")
    assert len(tokens.grants()) == 2
    fresh = provider.access_token()
    assert fresh != cached
    assert tokens.introspections[-2:] == [(cached, False), (fresh, True)]
    assert tokens.is_refresh_token_valid(stored_refresh_token(provider))


def test_revoked_refresh_token_stops_with_a_clear_error(
    tmp_path: Path, tokens: OAuthTestServer, account: ImapAccount, http: httpx.Client
) -> None:
    """After an admin revokes the sign-in, the login fails permanently and names the fix."""
    provider = signed_in(tmp_path, tokens, account, http)
    with connect(account) as client:
        xoauth2_login(client, account.username, provider)
    revoked = stored_refresh_token(provider)
    tokens.revoke_refresh_token(revoked)
    tokens.revoke_access_tokens()

    with connect(account) as client, pytest.raises(OAuthPermanentError) as caught:
        xoauth2_login(client, account.username, provider)
    message = str(caught.value)
    assert "mailbox invites" in message
    assert "invalid_grant" in message
    assert "run `acchub-mailbot auth login --mailbox invites`" in message
    assert revoked not in message
    assert provider.status().last_error == message
    # The store keeps the (dead) refresh token: nothing is deleted behind the operator's back.
    assert stored_refresh_token(provider) == revoked


# -- the command line, once ImapSettings has its oauth: section --------------------------------

needs_config_oauth = pytest.mark.skipif(
    "oauth" not in ImapSettings.model_fields,
    reason="the configuration has no mailboxes[].imap.oauth section yet",
)


def oauth_config(tmp_path: Path, tokens: OAuthTestServer, account: ImapAccount) -> Path:
    config = {
        "database": {"url": f"sqlite:///{tmp_path / 'acchub.db'}"},
        "mailboxes": [
            {
                "name": "invites",
                "imap": {
                    "host": account.host,
                    "port": account.port,
                    "security": "starttls",
                    "username": account.username,
                    "ca_file": str(account.ca_file),
                    "timeout_seconds": 10,
                    "oauth": {
                        "provider": "custom",
                        "client_id": tokens.client_id,
                        "token_endpoint": tokens.token_endpoint,
                        "device_endpoint": tokens.device_endpoint,
                        "scope": "imap offline_access",
                    },
                },
                "digest_to": ["dana@firm.example"],
            }
        ],
        "digest": {
            "output_dir": str(tmp_path / "digests"),
            "schedule": "immediate",
            "send_empty": True,
        },
        "verification": {"live_check": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acchub_mailbot", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_config_oauth
def test_auth_login_then_polls_across_expiry_then_revocation_is_reported(
    tmp_path: Path, tokens: OAuthTestServer, account: ImapAccount
) -> None:
    """`auth login` signs in by device code; polls keep working as tokens expire; a revoked
    sign-in shows in the poll output, in `status` and in `auth status` with the fix."""
    tokens.device_username = account.username
    tokens.device_script = ["authorization_pending"]
    config = oauth_config(tmp_path, tokens, account)
    store = tmp_path / "tokens" / "invites.json"

    before = run_cli(config, "auth", "status")
    assert before.returncode == 1, before
    assert "NOT signed in" in before.stdout
    assert "auth login --mailbox invites" in before.stdout

    login = run_cli(config, "auth", "login", "--mailbox", "invites")
    assert login.returncode == 0, login
    assert f"open {tokens.base_url}/device and enter the code " in login.stdout
    assert f"refresh token saved to {store}" in login.stdout
    assert stat.S_IMODE(store.stat().st_mode) == 0o600

    outputs = [before, login]
    for _ in range(2):
        outputs.append(run_cli(config, "run", "--once"))
        assert outputs[-1].returncode == 0, outputs[-1]
        assert "invites: 0 new message(s)" in outputs[-1].stdout
        time.sleep(LIFETIME + 0.3)
    # Two-second tokens are inside the one-minute refresh margin: each poll refreshed first.
    assert len(tokens.grants()) == 2

    outputs.append(run_cli(config, "auth", "status", "--json"))
    assert outputs[-1].returncode == 0, outputs[-1]
    [row] = json.loads(outputs[-1].stdout)
    assert row["signed_in"] and row["expires_at"] and row["warning"] is None

    tokens.revoke_all_refresh_tokens()
    failed = run_cli(config, "run", "--once")
    assert failed.returncode == 1, failed
    assert "run `acchub-mailbot auth login --mailbox invites`" in failed.stdout
    status = run_cli(config, "status", "--json")
    [mailbox] = json.loads(status.stdout)["mailboxes"]
    assert "auth login --mailbox invites" in mailbox["last_error"]
    assert mailbox["token"]["signed_in"] is True  # a token is stored, the provider refused it
    assert mailbox["token"]["expires_at"]
    refresh = run_cli(config, "auth", "status", "--refresh")
    assert refresh.returncode == 1
    assert "invalid_grant" in refresh.stdout
    outputs += [failed, status, refresh]
    last_digest = max((tmp_path / "digests").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert "auth login --mailbox invites" in last_digest.read_text(encoding="utf-8")

    secrets = [r.form.get("refresh_token", "") for r in tokens.grants()]
    secrets += [token for token, _ in tokens.introspections]
    printed = "".join(o.stdout + o.stderr for o in outputs)
    for secret in filter(None, secrets):
        assert secret not in printed
    # The token file holds what the endpoint issued last, and nothing else is lying around.
    assert sorted(p.name for p in store.parent.iterdir()) == ["invites.json", "invites.json.lock"]
