"""OAuth 2.0 sign-in for IMAP (XOAUTH2): Microsoft 365 and Gmail, or any RFC 6749 server.

A mailbox configured with ``oauth:`` signs in with a short-lived access token that is obtained
from a long-lived refresh token. The pieces, from pure to I/O:

* :class:`OAuthSettings` — the provider, client and endpoints (frozen, validated).
* Pure helpers — :func:`parse_token_response`, :func:`parse_device_authorization` and
  :func:`device_poll_step` turn HTTP answers into values and decisions.
* :class:`TokenStore` — the refresh token (and the cached access token) in a JSON file of
  mode 0600, written atomically, locked against other processes refreshing at the same time.
* :class:`TokenProvider` — hands out a valid access token, refreshing it shortly before it
  expires or after the mail server rejected it; a rotated refresh token is on disk before
  the new access token is used.
* :func:`xoauth2_login` — the IMAP login that retries once with a fresh token.
* :func:`device_code_login` — the first sign-in (RFC 8628 device authorization grant).

Errors::

    OAuthError(TransientError)   network failure, timeout, 5xx, 429: retried with the poll
    OAuthPermanentError          the grant or client was refused, no token stored: a person
                                 must act, and the message says what to run

Token values never appear in logs, exceptions or reprs: the dataclasses that hold them hide
those fields, and every text that came from a server is scrubbed of the tokens in play.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import ssl
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from acchub_mailbot.errors import AcchubError, TransientError

if TYPE_CHECKING:
    from imapclient import IMAPClient

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.oauth")

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MICROSOFT_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
GOOGLE_DEVICE_ENDPOINT = "https://oauth2.googleapis.com/device/code"
#: An access token is replaced this long before the expiry the token endpoint announced.
REFRESH_MARGIN_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 30.0
#: OAuth error codes (RFC 6749 §5.2, RFC 8628 §3.5) that retrying cannot fix.
_TRANSIENT_CODES = frozenset({"temporarily_unavailable", "server_error"})
_CLIENT_CODES = frozenset({"invalid_client", "unauthorized_client", "invalid_request"})


# -- errors ------------------------------------------------------------------------------------


class OAuthError(TransientError):
    """The token endpoint could not be reached or failed (network, timeout, 5xx, 429)."""


class OAuthPermanentError(AcchubError):
    """Signing in cannot succeed until a person acts; the message says what to do.

    Raised for a refused grant (``invalid_grant``: revoked, expired or already-used refresh
    token), a refused client, a missing or unsafe token store, or a device sign-in that was
    declined or timed out. Not a :class:`~acchub_mailbot.errors.PermanentError`: it concerns
    a mailbox, not a message, so no message is quarantined because of it.
    """


def login_hint(mailbox: str) -> str:
    """The command that gives a mailbox a new refresh token."""
    return f"run `acchub-mailbot auth login --mailbox {mailbox}`"


# -- settings ----------------------------------------------------------------------------------


class OAuthSettings(BaseModel):
    """How a mailbox gets its access tokens (``mailboxes[].imap.oauth`` in the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Literal["microsoft", "google", "custom"] = "microsoft"
    tenant: str = Field(default="organizations", pattern=r"^[A-Za-z0-9._-]+$")
    client_id: str = Field(min_length=1)
    client_secret_env: str | None = None
    token_endpoint: str | None = None
    device_endpoint: str | None = None
    scope: str | None = None
    token_store: Path | None = None
    ca_file: Path | None = None

    @field_validator("token_endpoint", "device_endpoint")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_endpoint_url(value)
        return value

    @model_validator(mode="after")
    def _custom_needs_endpoint(self) -> OAuthSettings:
        if self.provider == "custom" and self.token_endpoint is None:
            raise ValueError("provider custom needs token_endpoint: URL")
        return self

    @property
    def resolved_token_endpoint(self) -> str:
        if self.token_endpoint:
            return self.token_endpoint
        if self.provider == "google":
            return GOOGLE_TOKEN_ENDPOINT
        return f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/token"

    @property
    def resolved_device_endpoint(self) -> str | None:
        if self.device_endpoint:
            return self.device_endpoint
        if self.provider == "google":
            return GOOGLE_DEVICE_ENDPOINT
        if self.provider == "microsoft":
            return f"https://login.microsoftonline.com/{self.tenant}/oauth2/v2.0/devicecode"
        return None

    @property
    def resolved_scope(self) -> str | None:
        if self.scope:
            return self.scope
        return {"microsoft": MICROSOFT_SCOPE, "google": GOOGLE_SCOPE}.get(self.provider)

    def client_secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The client secret from ``client_secret_env``; None for a public client."""
        if self.client_secret_env is None:
            return None
        environ = os.environ if environ is None else environ
        value = environ.get(self.client_secret_env)
        if not value:
            raise OAuthPermanentError(
                f"oauth.client_secret_env: the environment variable {self.client_secret_env} "
                f"is not set — fix: export {self.client_secret_env}=... before starting"
            )
        return value


def check_endpoint_url(url: str) -> None:
    """Refuse an endpoint that would send tokens in clear text to anything but loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        if host == "localhost":
            return
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return
    raise ValueError(f"{url!r} must be an https:// URL (http:// only for a loopback address)")


def default_token_store(mailbox: str, base_dir: Path) -> Path:
    """Where a mailbox's refresh token lives when ``token_store`` is not configured."""
    return base_dir / "tokens" / f"{mailbox}.json"


# -- pure helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenGrant:
    """A successful token response; the token fields never show in a repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scope: str | None = None


@dataclass(frozen=True)
class TokenErrorResponse:
    """An OAuth error answer (or an unusable answer) from the token endpoint."""

    status: int
    error: str
    description: str | None = None

    @property
    def transient(self) -> bool:
        """Worth retrying later: the server (not our grant) is the problem."""
        return self.status >= 500 or self.status == 429 or self.error in _TRANSIENT_CODES

    def summary(self) -> str:
        text = self.error if not self.description else f"{self.error}: {self.description}"
        return f"HTTP {self.status}, {text}"


def _clean(text: str, limit: int = 200) -> str:
    """Server text for a log line: one line, printable, bounded."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def parse_token_response(
    status: int, body: bytes, *, now: float
) -> TokenGrant | TokenErrorResponse:
    """Interpret a token endpoint answer (RFC 6749 §5.1 and §5.2) received at ``now``."""
    data = _json_object(body)
    if data is None:
        return TokenErrorResponse(status, "invalid_response", "the answer is not a JSON object")
    error = data.get("error")
    if status != 200 or error:
        description = data.get("error_description")
        return TokenErrorResponse(
            status,
            _clean(str(error or "http_error"), 60),
            _clean(str(description)) if description else None,
        )
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        return TokenErrorResponse(status, "invalid_response", "no access_token in the answer")
    token_type = str(data.get("token_type", "Bearer"))
    if token_type.lower() != "bearer":
        return TokenErrorResponse(status, "invalid_response", f"token_type {token_type!r}")
    refresh = data.get("refresh_token")
    expires_in = data.get("expires_in")
    try:
        expires_at = now + float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        expires_at = None
    scope = data.get("scope")
    return TokenGrant(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else None,
    )


@dataclass(frozen=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 §3.2); the device code stays hidden."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: float
    interval: float
    verification_uri_complete: str | None = None


def parse_device_authorization(
    status: int, body: bytes
) -> DeviceAuthorization | TokenErrorResponse:
    """Interpret a device authorization answer; Google says ``verification_url``."""
    data = _json_object(body)
    if data is None:
        return TokenErrorResponse(status, "invalid_response", "the answer is not a JSON object")
    if status != 200 or data.get("error"):
        description = data.get("error_description")
        return TokenErrorResponse(
            status,
            _clean(str(data.get("error") or "http_error"), 60),
            _clean(str(description)) if description else None,
        )
    device_code = data.get("device_code")
    user_code = data.get("user_code")
    uri = data.get("verification_uri") or data.get("verification_url")
    if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
        return TokenErrorResponse(
            status, "invalid_response", "device_code, user_code or verification_uri missing"
        )
    complete = data.get("verification_uri_complete")
    try:
        expires_in = float(data.get("expires_in", 900))
        interval = float(data.get("interval", 5))
    except (TypeError, ValueError):
        return TokenErrorResponse(status, "invalid_response", "expires_in or interval not a number")
    return DeviceAuthorization(
        device_code=str(device_code),
        user_code=_clean(str(user_code), 40),
        verification_uri=_clean(str(uri)),
        expires_in=expires_in,
        interval=max(1.0, interval),
        verification_uri_complete=_clean(complete) if isinstance(complete, str) else None,
    )


@dataclass(frozen=True)
class DevicePollAction:
    """What to do after one device-code poll: ``wait`` (then poll again), ``done`` or ``fail``."""

    kind: Literal["wait", "done", "fail"]
    interval: float
    reason: str = ""


def device_poll_step(outcome: TokenGrant | TokenErrorResponse, interval: float) -> DevicePollAction:
    """The RFC 8628 §3.5 state machine: the next step after one token-endpoint answer."""
    if isinstance(outcome, TokenGrant):
        return DevicePollAction("done", interval)
    if outcome.error == "authorization_pending":
        return DevicePollAction("wait", interval)
    if outcome.error == "slow_down":
        # RFC 8628 §3.5: the interval grows by 5 seconds for this and all later requests.
        return DevicePollAction("wait", interval + 5)
    if outcome.transient:
        return DevicePollAction("wait", interval, "token endpoint failed: " + outcome.summary())
    if outcome.error == "expired_token":
        return DevicePollAction("fail", interval, "the code expired before the sign-in finished")
    if outcome.error in ("access_denied", "authorization_declined"):
        return DevicePollAction("fail", interval, "the sign-in was declined")
    return DevicePollAction("fail", interval, "the sign-in failed: " + outcome.summary())


# -- the token store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredTokens:
    """What the token store file holds; token values never show in a repr."""

    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    updated_at: float | None = None


class TokenStore:
    """A mailbox's tokens in a JSON file that only its owner may read (mode 0600).

    Writes go to a temporary file in the same directory (created 0600), are fsynced and
    renamed over the old file, so a crash leaves either the old or the new refresh token,
    never a torn file. A file that others can read is used with a logged warning; one that
    others can write is refused, since a planted token would redirect the mailbot to
    someone else's mailbox.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._warned = False

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def permission_problem(self) -> str | None:
        """Why the file's permissions are unsafe, or None (also None when it does not exist)."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return None
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"token store {self.path} is writable by other users; chmod 600 it"
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            return f"token store {self.path} is readable by other users; chmod 600 it"
        return None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> StoredTokens | None:
        """The stored tokens, or None when the file does not exist yet."""
        problem = self.permission_problem()
        if problem and "writable" in problem:
            raise OAuthPermanentError(f"{problem} and sign in again")
        if problem and not self._warned:
            self._warned = True
            log.warning("%s", problem)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OAuthPermanentError(
                f"token store {self.path}: cannot read it ({exc.strerror})"
            ) from None
        data = _json_object(raw)
        refresh = data.get("refresh_token") if data else None
        if data is None or not isinstance(refresh, str) or not refresh:
            raise OAuthPermanentError(f"token store {self.path} is damaged (no refresh token)")
        access = data.get("access_token")
        return StoredTokens(
            refresh_token=refresh,
            access_token=access if isinstance(access, str) and access else None,
            expires_at=_number(data.get("expires_at")),
            updated_at=_number(data.get("updated_at")),
        )

    def save(self, tokens: StoredTokens) -> None:
        """Replace the file atomically and durably, readable by its owner only."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "version": 1,
                "refresh_token": tokens.refresh_token,
                "access_token": tokens.access_token,
                "expires_at": tokens.expires_at,
                "updated_at": tokens.updated_at,
            }
        ).encode()
        # mkstemp creates the file with mode 0600 whatever the umask.
        fd, staging = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(staging)
            raise
        _fsync_directory(self.path.parent)
        self._warned = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock so that two processes never spend one refresh token twice."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _fsync_directory(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
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
            signed_in=stored is not None,
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
        if self._http is None:
            self._http = make_http_client(settings)
        secrets = tuple(s for s in (refresh_token, secret, self._rejected) if s)
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
        if outcome.error in _CLIENT_CODES:
            fix = "check oauth.client_id and the client secret in the config"
        else:
            fix = login_hint(self.mailbox)
        log.error("mailbox %s: token refresh refused (%s) — %s", self.mailbox, summary, fix)
        # The fix comes before the server's text: digests and status lines clip long errors.
        raise OAuthPermanentError(
            f"mailbox {self.mailbox}: sign-in refused by the token endpoint — {fix} ({summary})"
        )


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
        raise LoginError(
            f"{message} (with a freshly refreshed token; check that it was issued for "
            f"{username} with the IMAP scope)"
        ) from None


# -- device code sign-in -----------------------------------------------------------------------


def device_code_login(
    settings: OAuthSettings,
    store: TokenStore,
    *,
    mailbox: str,
    echo: Callable[[str], None],
    http: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_clock: Callable[[], float] = time.time,
    environ: Mapping[str, str] | None = None,
    max_transient_failures: int = 3,
) -> StoredTokens:
    """Sign a mailbox in interactively (RFC 8628) and store its refresh token.

    ``echo`` shows the person where to go and which code to enter. Returns what was stored.
    """
    endpoint = settings.resolved_device_endpoint
    if endpoint is None:
        raise OAuthPermanentError(
            f"mailbox {mailbox}: no device authorization endpoint — set oauth.device_endpoint"
        )
    secret = settings.client_secret(environ)
    owns_http = http is None
    client = http if http is not None else make_http_client(settings)
    try:
        request = {"client_id": settings.client_id}
        if settings.resolved_scope:
            request["scope"] = settings.resolved_scope
        if secret and settings.provider == "google":
            # Google's device flow wants the secret here too; Microsoft's public clients do not.
            request["client_secret"] = secret
        secrets = tuple(s for s in (secret,) if s)
        status, body = _post_form(client, endpoint, request, mailbox=mailbox, secrets=secrets)
        authorization = parse_device_authorization(status, body)
        if isinstance(authorization, TokenErrorResponse):
            summary = scrub(authorization.summary(), *secrets)
            error_type = OAuthError if authorization.transient else OAuthPermanentError
            raise error_type(f"mailbox {mailbox}: the device sign-in could not start ({summary})")
        echo(
            f"To sign in mailbox {mailbox}, open {authorization.verification_uri} "
            f"and enter the code {authorization.user_code}"
        )
        if authorization.verification_uri_complete:
            echo(f"(or open {authorization.verification_uri_complete})")
        grant = _poll_device(
            settings,
            client,
            authorization,
            mailbox=mailbox,
            secret=secret,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
            max_transient_failures=max_transient_failures,
        )
    finally:
        if owns_http:
            client.close()
    if grant.refresh_token is None:
        raise OAuthPermanentError(
            f"mailbox {mailbox}: signed in, but no refresh token was issued — add "
            "offline_access to oauth.scope (Microsoft) and sign in again"
        )
    tokens = StoredTokens(
        refresh_token=grant.refresh_token,
        access_token=grant.access_token,
        expires_at=grant.expires_at,
        updated_at=wall_clock(),
    )
    with store.locked():
        store.save(tokens)
    log.info("mailbox %s: signed in; refresh token saved to %s", mailbox, store.path)
    return tokens


def _poll_device(
    settings: OAuthSettings,
    http: httpx.Client,
    authorization: DeviceAuthorization,
    *,
    mailbox: str,
    secret: str | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    wall_clock: Callable[[], float],
    max_transient_failures: int,
) -> TokenGrant:
    deadline = clock() + authorization.expires_in
    interval = authorization.interval
    failures = 0
    form = {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": authorization.device_code,
        "client_id": settings.client_id,
    }
    if secret:
        form["client_secret"] = secret
    secrets = tuple(s for s in (secret, authorization.device_code) if s)
    while True:
        sleep(interval)
        if clock() >= deadline:
            raise OAuthPermanentError(
                f"mailbox {mailbox}: the code expired before the sign-in finished — run "
                f"`acchub-mailbot auth login --mailbox {mailbox}` again"
            )
        try:
            status, body = _post_form(
                http, settings.resolved_token_endpoint, form, mailbox=mailbox, secrets=secrets
            )
            outcome: TokenGrant | TokenErrorResponse = parse_token_response(
                status, body, now=wall_clock()
            )
        except OAuthError as exc:
            outcome = TokenErrorResponse(503, "network_error", str(exc))
        action = device_poll_step(outcome, interval)
        if action.kind == "done" and isinstance(outcome, TokenGrant):
            return outcome
        if action.kind == "fail":
            raise OAuthPermanentError(
                f"mailbox {mailbox}: {scrub(action.reason, *secrets)} — run "
                f"`acchub-mailbot auth login --mailbox {mailbox}` again"
            )
        if action.reason:
            failures += 1
            if failures >= max_transient_failures:
                raise OAuthError(f"mailbox {mailbox}: {scrub(action.reason, *secrets)}")
        else:
            failures = 0
        interval = action.interval
