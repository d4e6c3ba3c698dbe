"""Access tokens for IMAP: the token endpoint client, the refreshing provider and the login.

:class:`TokenProvider` hands out a valid access token, refreshing it shortly before it
expires or after the mail server rejected it; a rotated refresh token is on disk before the
new access token is used. :func:`xoauth2_login` retries once with a fresh token.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from acchub_mailbot.mail.oauth.apponly import token_request
from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.explain import explain, refused_token_fix
from acchub_mailbot.mail.oauth.responses import TokenGrant, _clean, parse_token_response, scrub
from acchub_mailbot.mail.oauth.settings import OAuthSettings, login_hint
from acchub_mailbot.mail.oauth.store import StoredTokens, TokenStore

if TYPE_CHECKING:
    from imapclient import IMAPClient

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.oauth")

#: An access token is replaced this long before the expiry the token endpoint announced.
REFRESH_MARGIN_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 30.0
#: OAuth error codes (RFC 6749 §5.2) that mean the client, not the grant, is refused.


# -- HTTP --------------------------------------------------------------------------------------


def make_http_client(settings: OAuthSettings) -> httpx.Client:
    """The HTTP client for token requests: verified TLS, plus ``ca_file`` when set."""
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, verify=context, follow_redirects=False)


def _post_form(
    http: httpx.Client, url: str, form: Mapping[str, str], *, mailbox: str, secrets: tuple[str, ...]
) -> tuple[int, bytes]:
    try:
        response = http.post(url, data=dict(form), headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        host = urllib.parse.urlsplit(url).hostname
        # httpx messages can quote the request; scrubbed to be sure no form value leaks.
        detail = scrub(_clean(str(exc) or type(exc).__name__), *secrets)
        raise OAuthError(
            f"mailbox {mailbox}: cannot reach the token endpoint {host} "
            f"({type(exc).__name__}: {detail}); will retry"
        ) from None
    return response.status_code, response.content


# -- the token provider ------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStatus:
    """What ``status`` and the digest show about a mailbox's sign-in."""

    mailbox: str
    store: str
    signed_in: bool
    expires_at: datetime | None
    last_refresh_at: datetime | None
    last_error: str | None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "store": self.store,
            "signed_in": self.signed_in,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_refresh_at": self.last_refresh_at.isoformat() if self.last_refresh_at else None,
            "last_error": self.last_error,
            "warning": self.warning,
        }


def _as_datetime(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


class TokenProvider:
    """Valid access tokens for one mailbox, refreshed from the stored refresh token.

    Thread-safe; across processes the store's lock makes a refresh happen once, and a process
    that waited for the lock picks up the token the other one stored.
    """

    def __init__(
        self,
        settings: OAuthSettings,
        store: TokenStore,
        *,
        mailbox: str,
        subject: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        #: The mailbox address an app-only grant acts for (a service account's subject).
        self.subject = subject
        self._owns_http = http is None
        self._http = http
        self._clock = clock
        self._environ = environ
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._access: str | None = None
        self._expires_at: float | None = None
        self._rejected: str | None = None
        self._last_refresh_at: float | None = None
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(mailbox={self.mailbox!r}, store={self.store!r})"

    def __enter__(self) -> TokenProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http and self._http is not None:
            self._http.close()
        self._http = None

    @property
    def expires_at(self) -> datetime | None:
        """When the current access token expires (UTC), if one is held."""
        return _as_datetime(self._expires_at)

    def status(self) -> TokenStatus:
        stored: StoredTokens | None = None
        error = self.last_error
        try:
            stored = self.store.load()
        except OAuthPermanentError as exc:
            error = error or str(exc)
        expires = self._expires_at if self._access else (stored.expires_at if stored else None)
        return TokenStatus(
            mailbox=self.mailbox,
            store=str(self.store.path),
            # An app-only grant signs in from its configured credential; nothing is stored.
            signed_in=stored is not None or self.settings.app_only,
            expires_at=_as_datetime(expires),
            last_refresh_at=_as_datetime(
                self._last_refresh_at or (stored.updated_at if stored else None)
            ),
            last_error=error,
            warning=self.store.permission_problem(),
        )

    def invalidate(self) -> None:
        """The server refused the current token: the next :meth:`access_token` refreshes."""
        with self._lock:
            if self._access is not None:
                self._rejected = self._access
            self._access = None
            self._expires_at = None

    def _fresh(self, token: str | None, expires_at: float | None) -> bool:
        if token is None or token == self._rejected:
            return False
        # A token without a stated lifetime is used until the server refuses it.
        return expires_at is None or self._clock() < expires_at - self._margin

    def access_token(self) -> str:
        """A token that the server should accept for at least the refresh margin."""
        with self._lock:
            if self._fresh(self._access, self._expires_at) and self._access is not None:
                return self._access
            try:
                token = self._obtain()
            except (OAuthError, OAuthPermanentError) as exc:
                self.last_error = str(exc)
                raise
            self.last_error = None
            return token

    def _obtain(self) -> str:
        if self.settings.app_only:
            return self._app_token()
        with self.store.locked():
            try:
                stored = self.store.load()
            except OAuthPermanentError as exc:
                raise OAuthPermanentError(
                    f"mailbox {self.mailbox}: unusable token store — {login_hint(self.mailbox)} "
                    f"({exc})"
                ) from None
            if stored is None:
                raise OAuthPermanentError(
                    f"mailbox {self.mailbox}: not signed in — {login_hint(self.mailbox)} "
                    f"(no token store at {self.store.path})"
                )
            if self._fresh(stored.access_token, stored.expires_at) and stored.access_token:
                # Another process (or an earlier run) refreshed it already.
                self._access, self._expires_at = stored.access_token, stored.expires_at
                return stored.access_token
            grant = self._refresh(stored.refresh_token)
            now = self._clock()
            rotated = grant.refresh_token not in (None, stored.refresh_token)
            # Persisted before the new access token is used: the old refresh token may
            # already be dead on the server, so losing the new one would lock us out.
            self.store.save(
                StoredTokens(
                    refresh_token=grant.refresh_token or stored.refresh_token,
                    access_token=grant.access_token,
                    expires_at=grant.expires_at,
                    updated_at=now,
                )
            )
        self._access, self._expires_at = grant.access_token, grant.expires_at
        self._last_refresh_at = now
        lifetime = f"{grant.expires_at - now:.0f} s" if grant.expires_at else "an unstated time"
        log.info(
            "mailbox %s: access token refreshed, valid for %s%s",
            self.mailbox,
            lifetime,
            " (refresh token rotated and saved)" if rotated else "",
        )
        return grant.access_token

    def _app_token(self) -> str:
        """An app-only grant: asked for afresh and kept in memory only."""
        now = self._clock()
        form, secrets = token_request(
            self.settings, subject=self.subject, now=now, environ=self._environ
        )
        rejected = (self._rejected,) if self._rejected else ()
        grant = self._request(form, secrets + rejected)
        self._access, self._expires_at = grant.access_token, grant.expires_at
        self._last_refresh_at = now
        log.info(
            "mailbox %s: app-only access token obtained (%s)", self.mailbox, self.settings.grant
        )
        return grant.access_token

    def _refresh(self, refresh_token: str) -> TokenGrant:
        settings = self.settings
        secret = settings.client_secret(self._environ)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": settings.client_id,
        }
        if settings.resolved_scope:
            form["scope"] = settings.resolved_scope
        if secret:
            form["client_secret"] = secret
        return self._request(form, tuple(s for s in (refresh_token, secret, self._rejected) if s))

    def _request(self, form: dict[str, str], secrets: tuple[str, ...]) -> TokenGrant:
        """POST one grant to the token endpoint; a refusal says what to do."""
        settings = self.settings
        if self._http is None:
            self._http = make_http_client(settings)
        status, body = _post_form(
            self._http,
            settings.resolved_token_endpoint,
            form,
            mailbox=self.mailbox,
            secrets=secrets,
        )
        outcome = parse_token_response(status, body, now=self._clock())
        if isinstance(outcome, TokenGrant):
            return outcome
        summary = scrub(outcome.summary(), *secrets)
        if outcome.transient or outcome.error == "invalid_response":
            log.warning("mailbox %s: token refresh failed (%s); will retry", self.mailbox, summary)
            raise OAuthError(
                f"mailbox {self.mailbox}: token refresh failed ({summary}); will retry"
            )
        fix = explain(outcome.error, outcome.summary(), settings, self.mailbox)
        log.error("mailbox %s: token refresh refused (%s) — %s", self.mailbox, summary, fix)
        # The fix comes before the server's text: digests and status lines clip long errors.
        raise OAuthPermanentError(
            f"mailbox {self.mailbox}: sign-in refused by the token endpoint — {fix} ({summary})"
        )


#: One provider per sign-in for the life of the process: app-only grants keep their token in
#: memory only, so a provider made per connection or per message would ask every time.
_SHARED: dict[tuple[object, ...], TokenProvider] = {}
_SHARED_LOCK = threading.Lock()


def shared_provider(
    settings: OAuthSettings, *, mailbox: str, subject: str | None = None
) -> TokenProvider:
    """The process's provider for this sign-in (made on first use, never closed)."""
    if settings.token_store is None:
        raise OAuthPermanentError(f"mailbox {mailbox}: no OAuth token store set")
    key = (settings, mailbox, subject)
    with _SHARED_LOCK:
        provider = _SHARED.get(key)
        if provider is None:
            store = TokenStore(settings.token_store)
            provider = TokenProvider(settings, store, mailbox=mailbox, subject=subject)
            _SHARED[key] = provider
        return provider


# -- IMAP --------------------------------------------------------------------------------------


def xoauth2_login(client: IMAPClient, username: str, provider: TokenProvider) -> None:
    """Sign in with XOAUTH2; when the server refuses the token, refresh it and try once more.

    Raises :class:`OAuthError`/:class:`OAuthPermanentError` when no token can be had, and
    imapclient's ``LoginError`` (without any token in its text) when even a fresh token is
    refused, e.g. because the token belongs to another user or lacks the IMAP scope.
    """
    from imapclient.exceptions import LoginError

    token = provider.access_token()
    try:
        client.oauth2_login(username, token)
        return
    except LoginError as exc:
        log.info(
            "mailbox %s: the IMAP server refused the access token (%s); refreshing it",
            provider.mailbox,
            scrub(_clean(str(exc)), token),
        )
        provider.invalidate()
    fresh = provider.access_token()
    try:
        client.oauth2_login(username, fresh)
    except LoginError as exc:
        message = scrub(_clean(str(exc)), token, fresh)
        provider.last_error = f"the IMAP server refused a freshly refreshed token ({message})"
        fix = refused_token_fix(provider.settings, username, "IMAP")
        raise LoginError(f"{message} (with a freshly refreshed token) — {fix}") from None
