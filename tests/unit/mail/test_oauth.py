"""OAuth 2.0 tokens: caching, refresh, rotation on disk, error mapping, device sign-in, secrecy.

The token endpoint is a real HTTP server on 127.0.0.1 (``tests/servers/oauth.py``); time is
a fake clock wherever expiry matters, so nothing here waits for a token to age.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.grant import device_code_login
from acchub_mailbot.mail.oauth.provider import TokenProvider, xoauth2_login
from acchub_mailbot.mail.oauth.responses import (
    DevicePollAction,
    TokenErrorResponse,
    TokenGrant,
    device_poll_step,
    parse_device_authorization,
    parse_token_response,
)
from acchub_mailbot.mail.oauth.settings import DEVICE_CODE_GRANT, OAuthSettings
from acchub_mailbot.mail.oauth.store import StoredTokens, TokenStore
from tests.servers.oauth import OAuthTestServer

MAILBOX = "invites"
CLIENT_SECRET = "client-Secret-that-must-not-leak"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    slept: list[float]


@pytest.fixture
def clock() -> FakeClock:
    fake = FakeClock()
    fake.slept = []
    return fake


@pytest.fixture
def server() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(access_lifetime=3600) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def settings_for(server: OAuthTestServer, **extra: Any) -> OAuthSettings:
    return OAuthSettings(
        provider="custom",
        client_id=server.client_id,
        token_endpoint=server.token_endpoint,
        device_endpoint=server.device_endpoint,
        scope="imap offline_access",
        **extra,
    )


def signed_in_store(tmp_path: Path, server: OAuthTestServer, username: str = "u") -> TokenStore:
    store = TokenStore(tmp_path / "tokens" / f"{MAILBOX}.json")
    store.save(StoredTokens(refresh_token=server.issue_refresh_token(username)))
    return store


def provider_for(
    server: OAuthTestServer,
    store: TokenStore,
    http: httpx.Client,
    clock: FakeClock,
    **extra: Any,
) -> TokenProvider:
    return TokenProvider(
        settings_for(server), store, mailbox=MAILBOX, http=http, clock=clock, **extra
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- settings ----------------------------------------------------------------------------------


def test_settings_derive_endpoints_and_scope_from_the_provider() -> None:
    """Microsoft (per tenant) and Google endpoints and scopes are filled in; custom needs a URL."""
    microsoft = OAuthSettings(client_id="c", tenant="contoso.onmicrosoft.com")
    assert microsoft.resolved_token_endpoint == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    )
    assert microsoft.resolved_device_endpoint == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
    )
    assert microsoft.resolved_scope == (
        "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
    )
    google = OAuthSettings(provider="google", client_id="c")
    assert google.resolved_token_endpoint == "https://oauth2.googleapis.com/token"
    assert google.resolved_device_endpoint == "https://oauth2.googleapis.com/device/code"
    assert google.resolved_scope == "https://mail.google.com/"
    with pytest.raises(ValidationError, match="token_endpoint"):
        OAuthSettings(provider="custom", client_id="c")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"client_id": "c", "token_endpoint": "http://login.example.com/token"}, "https://"),
        ({"client_id": "c", "tenant": "x/../../evil"}, "pattern"),
        ({"client_id": "c", "client_secret": "inline"}, "Extra inputs"),
        ({}, "client_id"),
    ],
)
def test_settings_refuse_unsafe_or_unknown_values(data: dict[str, Any], message: str) -> None:
    """Clear-text token endpoints off loopback, odd tenants and inline secrets are refused."""
    with pytest.raises(ValidationError, match=message):
        OAuthSettings.model_validate(data)


def test_settings_are_frozen_and_allow_loopback_http() -> None:
    settings = OAuthSettings(
        provider="custom", client_id="c", token_endpoint="http://127.0.0.1:9/token"
    )
    with pytest.raises(ValidationError):
        settings.client_id = "other"  # type: ignore[misc]


# -- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            200,
            b'{"access_token":"A","token_type":"Bearer","expires_in":3599,"refresh_token":"R"}',
            TokenGrant("A", "R", 1000.0 + 3599),
        ),
        (200, b'{"access_token":"A","token_type":"bearer"}', TokenGrant("A", None, None)),
        (400, b'{"error":"invalid_grant","error_description":"AADSTS70008 expired"}',
         TokenErrorResponse(400, "invalid_grant", "AADSTS70008 expired")),
        (503, b"<html>Service Unavailable</html>",
         TokenErrorResponse(503, "invalid_response", "the answer is not a JSON object")),
        (200, b'{"token_type":"Bearer"}',
         TokenErrorResponse(200, "invalid_response", "no access_token in the answer")),
        (200, b'{"access_token":"A","token_type":"mac"}',
         TokenErrorResponse(200, "invalid_response", "token_type 'mac'")),
    ],
)  # fmt: skip
def test_parse_token_response(status: int, body: bytes, expected: object) -> None:
    """Token answers become a grant (with an absolute expiry) or a described error."""
    assert parse_token_response(status, body, now=1000.0) == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (TokenGrant("A", "R", None), DevicePollAction("done", 5)),
        (TokenErrorResponse(400, "authorization_pending"), DevicePollAction("wait", 5)),
        (TokenErrorResponse(400, "slow_down"), DevicePollAction("wait", 10)),
        (TokenErrorResponse(400, "expired_token"),
         DevicePollAction("fail", 5, "the code expired before the sign-in finished")),
        (TokenErrorResponse(400, "access_denied"),
         DevicePollAction("fail", 5, "the sign-in was declined")),
        (TokenErrorResponse(400, "authorization_declined"),
         DevicePollAction("fail", 5, "the sign-in was declined")),
        (TokenErrorResponse(503, "invalid_response"),
         DevicePollAction("wait", 5, "token endpoint failed: HTTP 503, invalid_response")),
        (TokenErrorResponse(400, "bad_verification_code"),
         DevicePollAction("fail", 5, "the sign-in failed: HTTP 400, bad_verification_code")),
    ],
)  # fmt: skip
def test_device_poll_step(outcome: TokenGrant | TokenErrorResponse, expected: object) -> None:
    """RFC 8628 §3.5: pending waits, slow_down adds 5 s, expiry and refusal end the flow."""
    assert device_poll_step(outcome, 5) == expected


def test_device_authorization_accepts_googles_verification_url() -> None:
    parsed = parse_device_authorization(
        200,
        b'{"device_code":"dev-code-secret","user_code":"ABCD-EFGH","verification_url":'
        b'"https://www.google.com/device","expires_in":1800,"interval":5}',
    )
    assert not isinstance(parsed, TokenErrorResponse)
    assert parsed.verification_uri == "https://www.google.com/device"
    assert "dev-code-secret" not in repr(parsed)


# -- the token store ---------------------------------------------------------------------------


def test_store_writes_mode_0600_atomically_whatever_the_umask(tmp_path: Path) -> None:
    """The token file is owner-only even under umask 0, and no temporary file is left over."""
    store = TokenStore(tmp_path / "tokens" / "m.json")
    old = os.umask(0)
    try:
        store.save(StoredTokens("refresh-1", "access-1", 123.0, 100.0))
        store.save(StoredTokens("refresh-2", "access-2", 456.0, 200.0))
    finally:
        os.umask(old)
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["m.json"]
    assert store.load() == StoredTokens("refresh-2", "access-2", 456.0, 200.0)
    assert store.permission_problem() is None


def test_store_warns_about_a_file_others_can_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A group- or world-readable token file still works but is reported, with the fix."""
    store = TokenStore(tmp_path / "m.json")
    store.save(StoredTokens("refresh-1"))
    store.path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="acchub_mailbot.oauth"):
        assert store.load() == StoredTokens("refresh-1")
    assert any("readable by other users; chmod 600" in r.getMessage() for r in caplog.records)
    store.save(StoredTokens("refresh-2"))
    assert mode(store.path) == 0o600


def test_store_refuses_a_file_others_can_write(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "m.json")
    store.save(StoredTokens("refresh-1"))
    store.path.chmod(0o666)
    with pytest.raises(OAuthPermanentError, match="writable by other users") as caught:
        store.load()
    assert "refresh-1" not in str(caught.value)


def test_store_reports_a_damaged_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "m.json")
    store.path.write_text('{"access_token": "x"}')
    store.path.chmod(0o600)
    with pytest.raises(OAuthPermanentError, match="damaged"):
        store.load()
    assert TokenStore(tmp_path / "missing.json").load() is None


def test_stored_tokens_and_grants_hide_token_values() -> None:
    text = repr(StoredTokens("refresh-XYZ", "access-XYZ", 1.0)) + repr(
        TokenGrant("access-XYZ", "refresh-XYZ", 1.0)
    )
    assert "XYZ" not in text


# -- the provider ------------------------------------------------------------------------------


def test_access_token_is_cached_until_shortly_before_expiry(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """One refresh serves every call until 60 s before expiry; then the next call refreshes."""
    server.advertised_expires_in = 3600
    store = signed_in_store(tmp_path, server)
    provider = provider_for(server, store, http, clock)
    first = provider.access_token()
    assert provider.access_token() == first
    assert len(server.grants()) == 1
    assert provider.expires_at is not None
    assert provider.expires_at.timestamp() == clock.now + 3600
    clock.now += 3600 - 61
    assert provider.access_token() == first
    clock.now += 2  # now 59 s before expiry
    second = provider.access_token()
    assert second != first
    assert len(server.grants()) == 2


def test_rotated_refresh_token_is_saved_0600_and_the_old_one_is_dead(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """Every refresh rotates the refresh token; the store always holds the live one."""
    store = signed_in_store(tmp_path, server)
    original = store.load()
    assert original is not None
    provider = provider_for(server, store, http, clock)
    token = provider.access_token()
    saved = store.load()
    assert saved is not None
    assert saved.refresh_token != original.refresh_token
    assert server.is_refresh_token_valid(saved.refresh_token)
    assert not server.is_refresh_token_valid(original.refresh_token)
    assert saved.access_token == token
    assert saved.updated_at == clock.now
    assert mode(store.path) == 0o600
    assert server.grants()[0].form["scope"] == "imap offline_access"


def test_the_new_refresh_token_is_persisted_before_the_access_token_is_used(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """If the rotated refresh token cannot be saved, no access token is handed out."""

    class FullDisk(TokenStore):
        def save(self, tokens: StoredTokens) -> None:
            raise OSError(28, "No space left on device")

    store = signed_in_store(tmp_path, server)
    provider = provider_for(server, FullDisk(store.path), http, clock)
    with pytest.raises(OSError, match="No space"):
        provider.access_token()
    assert provider.expires_at is None


def test_invalidate_forces_a_refresh(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """A token the IMAP server rejected is never offered again, even though it looks fresh."""
    provider = provider_for(server, signed_in_store(tmp_path, server), http, clock)
    first = provider.access_token()
    provider.invalidate()
    assert provider.access_token() != first
    assert len(server.grants()) == 2


def test_a_second_process_uses_the_token_the_first_one_stored(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """Two providers on one store spend the refresh token once, not twice."""
    store = signed_in_store(tmp_path, server)
    first = provider_for(server, store, http, clock).access_token()
    other = provider_for(server, TokenStore(store.path), http, clock)
    assert other.access_token() == first
    assert len(server.grants()) == 1


def test_client_secret_is_read_from_the_environment(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    server.client_secret = CLIENT_SECRET
    settings = settings_for(server, client_secret_env="ACCHUB_TEST_CLIENT_SECRET")
    store = signed_in_store(tmp_path, server)
    provider = TokenProvider(
        settings,
        store,
        mailbox=MAILBOX,
        http=http,
        clock=clock,
        environ={"ACCHUB_TEST_CLIENT_SECRET": CLIENT_SECRET},
    )
    provider.access_token()
    assert server.grants()[0].form["client_secret"] == CLIENT_SECRET
    clock.now += 7200  # the stored access token has expired: a refresh is needed
    missing = TokenProvider(settings, store, mailbox=MAILBOX, http=http, clock=clock, environ={})
    with pytest.raises(OAuthPermanentError, match="ACCHUB_TEST_CLIENT_SECRET is not set"):
        missing.access_token()


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        ((500, {"error": "server_error"}), OAuthError, "will retry"),
        ((502, "<html>Bad gateway</html>"), OAuthError, "will retry"),
        ((429, {"error": "too_many_requests"}), OAuthError, "will retry"),
        ((400, {"error": "temporarily_unavailable"}), OAuthError, "will retry"),
        ((400, {"error": "invalid_grant", "error_description": "AADSTS700082 expired"}),
         OAuthPermanentError, "auth login --mailbox invites"),
        ((400, {"error": "interaction_required"}), OAuthPermanentError,
         "auth login --mailbox invites"),
        ((401, {"error": "invalid_client"}), OAuthPermanentError, "check oauth.client_id"),
    ],
)  # fmt: skip
def test_token_endpoint_errors_are_mapped(
    tmp_path: Path,
    server: OAuthTestServer,
    http: httpx.Client,
    clock: FakeClock,
    answer: tuple[int, Any],
    error: type[Exception],
    message: str,
) -> None:
    """Server trouble is transient (retried); a refused grant or client needs a person."""
    provider = provider_for(server, signed_in_store(tmp_path, server), http, clock)
    server.fail_next.append(answer)
    with pytest.raises(error, match=message) as caught:
        provider.access_token()
    assert error is OAuthPermanentError or not isinstance(caught.value, OAuthPermanentError)
    assert "mailbox invites" in str(caught.value)
    assert provider.status().last_error == str(caught.value)
    # The next attempt (the endpoint has recovered) succeeds and clears the error.
    provider.access_token()
    assert provider.status().last_error is None


def test_revoked_refresh_token_names_the_fix(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    store = signed_in_store(tmp_path, server)
    server.revoke_all_refresh_tokens()
    provider = provider_for(server, store, http, clock)
    with pytest.raises(OAuthPermanentError) as caught:
        provider.access_token()
    assert "invalid_grant" in str(caught.value)
    assert "run `acchub-mailbot auth login --mailbox invites`" in str(caught.value)


def test_unreachable_endpoint_is_transient(
    tmp_path: Path, http: httpx.Client, clock: FakeClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = OAuthSettings(
        provider="custom", client_id="c", token_endpoint=f"http://127.0.0.1:{port}/token"
    )
    store = TokenStore(tmp_path / "m.json")
    store.save(StoredTokens("refresh-unreachable"))
    provider = TokenProvider(settings, store, mailbox=MAILBOX, http=http, clock=clock)
    with pytest.raises(OAuthError, match=r"cannot reach the token endpoint 127\.0\.0\.1"):
        provider.access_token()


def test_not_signed_in_says_what_to_run(tmp_path: Path, server: OAuthTestServer) -> None:
    provider = TokenProvider(settings_for(server), TokenStore(tmp_path / "none.json"), mailbox="x")
    with pytest.raises(OAuthPermanentError, match=r"not signed in .* auth login --mailbox x"):
        provider.access_token()
    status = provider.status()
    assert not status.signed_in
    assert "auth login" in (status.last_error or "")


def test_no_token_value_reaches_logs_reprs_or_errors(
    tmp_path: Path,
    server: OAuthTestServer,
    http: httpx.Client,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refresh tokens, access tokens and the client secret appear nowhere a person can read."""
    server.client_secret = CLIENT_SECRET
    settings = settings_for(server, client_secret_env="SECRET_ENV")
    store = signed_in_store(tmp_path, server)
    stored = store.load()
    assert stored is not None
    seen: list[str] = [stored.refresh_token, CLIENT_SECRET]
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        provider = TokenProvider(
            settings,
            store,
            mailbox=MAILBOX,
            http=http,
            clock=clock,
            environ={"SECRET_ENV": CLIENT_SECRET},
        )
        for _ in range(3):
            seen.append(provider.access_token())
            after = store.load()
            assert after is not None
            seen.append(after.refresh_token)
            texts += [repr(provider), repr(after), repr(provider.status()), repr(store)]
            provider.invalidate()
        # Failures, too: an echoing server, a refused grant, a dead endpoint.
        server.fail_next.append(
            (400, {"error": "invalid_grant", "error_description": f"bad {seen[-1]}"})
        )
        for _ in range(2):
            with pytest.raises((OAuthError, OAuthPermanentError)) as caught:
                provider.access_token()
            texts += [str(caught.value), repr(caught.value), str(provider.status().as_dict())]
            server.revoke_all_refresh_tokens()
        texts += [r.getMessage() for r in caplog.records]
        texts += [str(r.args) for r in caplog.records]
    assert len(set(seen)) == len(seen) == 8
    for secret in seen:
        for text in texts:
            assert secret not in text


# -- device code sign-in -----------------------------------------------------------------------


def test_device_flow_waits_slows_down_and_stores_the_refresh_token(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """The person is told where to go; polling honours interval and slow_down; 0600 result."""
    server.device_interval = 2
    server.device_script = ["authorization_pending", "slow_down", "authorization_pending"]
    store = TokenStore(tmp_path / "tokens" / "m.json")
    shown: list[str] = []
    tokens = device_code_login(
        settings_for(server),
        store,
        mailbox=MAILBOX,
        echo=shown.append,
        http=http,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=clock,
    )
    assert clock.slept == [2, 2, 7, 7]
    polls = server.grants(DEVICE_CODE_GRANT)
    assert len(polls) == 4
    assert all(p.form["client_id"] == server.client_id for p in polls)
    device = [r for r in server.requests if r.path == "/devicecode"]
    assert device[0].form == {"client_id": server.client_id, "scope": "imap offline_access"}
    assert len(shown) == 1
    assert f"{server.base_url}/device" in shown[0]
    assert "enter the code " in shown[0]
    assert store.load() == tokens
    assert server.is_refresh_token_valid(tokens.refresh_token)
    assert mode(store.path) == 0o600
    assert polls[0].form["device_code"] not in shown[0]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (["authorization_pending", "access_denied"], "declined"),
        (["authorization_declined"], "declined"),
        (["expired_token"], "expired"),
        (["bad_verification_code"], "bad_verification_code"),
    ],
)
def test_device_flow_failures_say_to_run_login_again(
    tmp_path: Path,
    server: OAuthTestServer,
    http: httpx.Client,
    clock: FakeClock,
    script: list[str],
    message: str,
) -> None:
    server.device_script = script
    store = TokenStore(tmp_path / "m.json")
    with pytest.raises(OAuthPermanentError, match=message) as caught:
        device_code_login(
            settings_for(server),
            store,
            mailbox=MAILBOX,
            echo=lambda _: None,
            http=http,
            clock=clock,
            sleep=clock.sleep,
        )
    assert "auth login --mailbox invites` again" in str(caught.value)
    assert not store.exists()


def test_device_flow_gives_up_when_the_code_expires(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    """Without an answer from the person, polling stops at the code's expires_in."""
    server.device_expires_in = 30
    server.device_interval = 5
    server.device_script = ["authorization_pending"] * 100
    with pytest.raises(OAuthPermanentError, match="the code expired"):
        device_code_login(
            settings_for(server),
            TokenStore(tmp_path / "m.json"),
            mailbox=MAILBOX,
            echo=lambda _: None,
            http=http,
            clock=clock,
            sleep=clock.sleep,
        )
    assert len(server.grants(DEVICE_CODE_GRANT)) == 5


def test_device_flow_tolerates_a_few_server_errors(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    server.device_script = []
    store = TokenStore(tmp_path / "m.json")
    server.fail_next += [(500, {"error": "server_error"})] * 2
    device_code_login(
        settings_for(server),
        store,
        mailbox=MAILBOX,
        echo=lambda _: None,
        http=http,
        clock=clock,
        sleep=clock.sleep,
    )
    assert store.exists()
    server.fail_next += [(503, "down")] * 3
    with pytest.raises(OAuthError, match="HTTP 503"):
        device_code_login(
            settings_for(server),
            store,
            mailbox=MAILBOX,
            echo=lambda _: None,
            http=http,
            clock=clock,
            sleep=clock.sleep,
        )


def test_device_flow_without_a_refresh_token_asks_for_offline_access(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    server.device_script = []
    server.fail_next.append(
        (200, {"access_token": "at-only", "token_type": "Bearer", "expires_in": 60})
    )
    with pytest.raises(OAuthPermanentError, match="offline_access"):
        device_code_login(
            settings_for(server),
            TokenStore(tmp_path / "m.json"),
            mailbox=MAILBOX,
            echo=lambda _: None,
            http=http,
            clock=clock,
            sleep=clock.sleep,
        )


# -- xoauth2_login -----------------------------------------------------------------------------


class RecordingImap:
    """Stands in for IMAPClient.oauth2_login: refuses tokens it was told to refuse."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.tokens: list[str] = []

    def oauth2_login(self, user: str, access_token: str) -> None:
        from imapclient.exceptions import LoginError

        self.tokens.append(access_token)
        if len(self.tokens) <= self.refuse:
            raise LoginError(f"[AUTHENTICATIONFAILED] bad token {access_token}")


def test_xoauth2_login_retries_once_with_a_fresh_token(
    tmp_path: Path, server: OAuthTestServer, http: httpx.Client, clock: FakeClock
) -> None:
    from imapclient.exceptions import LoginError

    provider = provider_for(server, signed_in_store(tmp_path, server), http, clock)
    imap = RecordingImap(refuse=1)
    xoauth2_login(imap, "u", provider)  # type: ignore[arg-type]
    assert len(set(imap.tokens)) == 2
    assert len(server.grants()) == 2

    stubborn = RecordingImap(refuse=2)
    with pytest.raises(LoginError) as caught:
        xoauth2_login(stubborn, "u", provider)  # type: ignore[arg-type]
    assert len(stubborn.tokens) == 2
    for token in stubborn.tokens:
        assert token not in str(caught.value)
    assert "freshly refreshed" in str(caught.value)
