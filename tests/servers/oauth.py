"""A local OAuth 2.0 authorization server for tests: token, device and introspection endpoints.

One stdlib ``ThreadingHTTPServer`` on 127.0.0.1 plays both sides of a Microsoft 365 or Gmail
sign-in: it issues short-lived access tokens from refresh tokens (rotating the refresh token on
every use, as Microsoft does), runs the RFC 8628 device authorization grant, and answers
RFC 7662 introspection ``POST`` requests as Dovecot's ``oauth2`` passdb sends them, reporting a
token active only while it is unexpired. App-only sign-in is checked as Entra ID and Google do it:
client secrets, certificate-signed client assertions and service-account assertions (RFC 7523),
each assertion verified, unexpired and used once; ``/mailbox-access`` answers whether a token may
open a mailbox (its own user's, or one granted to the app), as Exchange's application access
policy decides. Tests read its counters to see which grants the client
made, and flip its switches (revoke, fail the next request, lie about lifetimes) to provoke the
client's error paths.
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class _AccessToken:
    username: str
    expires_at: float


@dataclass
class _DeviceCode:
    username: str
    user_code: str
    expires_at: float
    #: Error codes answered to the next polls, in order, before the grant succeeds.
    script: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """One request the server received: its path and its form fields."""

    path: str
    form: dict[str, str]


class OAuthTestServer:
    """The authorization server; use as a context manager or call start() and close().

    ``access_lifetime`` is how long an access token really stays active (introspection says
    ``active: false`` afterwards); ``advertised_expires_in`` is what the token response
    claims (default: the truth), so a test can make a client trust a token that the mail
    server already rejects.
    """

    def __init__(
        self,
        *,
        access_lifetime: float = 2.0,
        advertised_expires_in: int | None = None,
        rotate_refresh_tokens: bool = True,
        client_id: str = "test-client",
        client_secret: str | None = None,
        device_interval: int = 1,
        device_expires_in: int = 60,
    ) -> None:
        self.access_lifetime = access_lifetime
        self.advertised_expires_in = advertised_expires_in
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.client_id = client_id
        self.client_secret = client_secret
        self.device_interval = device_interval
        self.device_expires_in = device_expires_in
        self.requests: list[Request] = []
        #: (token, active) for every introspection, in order.
        self.introspections: list[tuple[str, bool]] = []
        #: Canned (status, JSON body) answers for the next /token requests, in order.
        self.fail_next: list[tuple[int, dict[str, Any] | str]] = []
        #: The device flow's script for the next device code handed out.
        self.device_script: list[str] = ["authorization_pending"]
        self.device_username = "user@example.test"
        #: App-only sign-in. ``app_secret``: the client secret of the app registration;
        #: ``app_certificate``: the PEM certificate whose key signs its client assertions;
        #: ``app_mailboxes``: the mailboxes Exchange lets the app use (an application access
        #: policy); ``service_accounts``: client_email -> PEM public key, for Google's JWT bearer
        #: grant; ``delegated_domain``: the domain whose users a service account may act as.
        self.app_secret: str | None = None
        self.app_certificate: bytes | None = None
        self.app_mailboxes: set[str] = set()
        self.service_accounts: dict[str, bytes] = {}
        self.delegated_domain = "firm.example"
        #: The ``jti`` of every assertion accepted: a second use is refused, as a replay.
        self.seen_assertions: set[str] = set()
        self._refresh: dict[str, str] = {}
        self._access: dict[str, _AccessToken] = {}
        self._devices: dict[str, _DeviceCode] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> OAuthTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and every test stops a server.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="oauth-test-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("start the OAuth test server first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/token"

    @property
    def device_endpoint(self) -> str:
        return f"{self.base_url}/devicecode"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/introspect"

    # -- what tests arrange and inspect ------------------------------------------------------

    def issue_refresh_token(self, username: str) -> str:
        """A valid refresh token for ``username``, as an earlier sign-in would have left."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = username
        return token

    def revoke_refresh_token(self, token: str) -> None:
        with self._lock:
            self._refresh.pop(token, None)

    def revoke_all_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far inactive, as an admin's sign-out does."""
        with self._lock:
            self._access.clear()

    def is_refresh_token_valid(self, token: str) -> bool:
        with self._lock:
            return token in self._refresh

    def grants(self, grant_type: str = "refresh_token") -> list[Request]:
        """The /token requests of one grant type."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == "/token" and r.form.get("grant_type") == grant_type
            ]

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out and still known (to look for leaks)."""
        with self._lock:
            return [*self._access, *self._refresh]

    def sent_assertions(self) -> list[str]:
        """Every signed client or JWT-bearer assertion received (to look for leaks)."""
        with self._lock:
            found = [
                r.form.get("client_assertion") or r.form.get("assertion") for r in self.requests
            ]
        return [a for a in found if a]

    def user_of(self, token: str) -> str | None:
        """Whom an active access token was issued to (``None`` when unknown or expired)."""
        with self._lock:
            entry = self._access.get(token)
            active = entry is not None and entry.expires_at > time.monotonic()
            return entry.username if entry is not None and active else None

    def is_active(self, token: str) -> bool:
        with self._lock:
            entry = self._access.get(token)
            return entry is not None and entry.expires_at > time.monotonic()

    # -- the endpoints -----------------------------------------------------------------------

    def handle(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        with self._lock:
            self.requests.append(Request(path, dict(form)))
            if path == "/introspect":
                return self._introspect(form)
            if path == "/mailbox-access":
                return 200, {
                    "allowed": self.may_use_locked(form.get("token", ""), form.get("user", ""))
                }
            if path == "/devicecode":
                return self._device_authorization(form)
            if path == "/token":
                if self.fail_next:
                    return self.fail_next.pop(0)
                return self._token(form)
        return 404, {"error": "not_found"}

    def _client_ok(self, form: dict[str, str]) -> bool:
        if form.get("client_id") != self.client_id:
            return False
        return self.client_secret is None or form.get("client_secret") == self.client_secret

    def _issue(self, username: str, refresh_token: str | None) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        self._access[access] = _AccessToken(username, time.monotonic() + self.access_lifetime)
        if refresh_token is None or self.rotate_refresh_tokens:
            if refresh_token is not None:
                del self._refresh[refresh_token]
            refresh_token = "rt-" + secrets.token_urlsafe(24)
            self._refresh[refresh_token] = username
        expires_in = self.advertised_expires_in
        if expires_in is None:
            expires_in = max(1, round(self.access_lifetime))
        return {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": expires_in,
            "refresh_token": refresh_token,
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        }

    def _app_only(self, form: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        """The client credentials and JWT bearer grants, checked as Entra ID and Google do."""
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if form.get("client_id") != self.client_id:
                return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016"}
            assertion = form.get("client_assertion")
            if assertion is not None:
                if self.app_certificate is None or not _signed_by(
                    assertion, self.app_certificate, audience=self.token_endpoint
                ):
                    return 401, {
                        "error": "invalid_client",
                        "error_description": "AADSTS700027: Client assertion failed signature "
                        "validation.",
                    }
                if not self._fresh(assertion):
                    return 401, {
                        "error": "invalid_client",
                        "error_description": "AADSTS700025: Client assertion is replayed.",
                    }
            elif self.app_secret is None or form.get("client_secret") != self.app_secret:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                }
            return 200, self._issue_app(f"app:{self.client_id}")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _unverified(form.get("assertion", ""))
            key = self.service_accounts.get(str(claims.get("iss")))
            if key is None or not _signed_by(form["assertion"], key, audience=self.token_endpoint):
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT Signature.",
                }
            if not self._fresh(form["assertion"]):
                return 400, {"error": "invalid_grant", "error_description": "Assertion replayed."}
            subject = str(claims.get("sub", ""))
            if not subject.endswith("@" + self.delegated_domain):
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Invalid email or User ID",
                }
            return 200, self._issue_app(subject)
        return None

    def _issue_app(self, username: str) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        self._access[access] = _AccessToken(username, time.monotonic() + self.access_lifetime)
        return {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": round(self.access_lifetime),
        }

    def may_use(self, token: str, mailbox: str) -> bool:
        """Whether ``token`` opens ``mailbox``: issued to it, or to an app granted it."""
        with self._lock:
            return self.may_use_locked(token, mailbox)

    def may_use_locked(self, token: str, mailbox: str) -> bool:
        entry = self._access.get(token)
        if entry is None or entry.expires_at <= time.monotonic():
            return False
        user = entry.username
        return user == mailbox or (user.startswith("app:") and mailbox in self.app_mailboxes)

    def _fresh(self, assertion: str) -> bool:
        """An assertion not seen before (its ``jti``), remembered from now on."""
        jti = str(_unverified(assertion).get("jti") or "")
        if not jti or jti in self.seen_assertions:
            return False
        self.seen_assertions.add(jti)
        return True

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        app = self._app_only(form)
        if app is not None:
            return app
        if not self._client_ok(form):
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            username = self._refresh.get(form.get("refresh_token", ""))
            if username is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70008: The refresh token has expired or was "
                    "revoked.",
                }
            return 200, self._issue(username, form["refresh_token"])
        if grant == DEVICE_GRANT:
            device = self._devices.get(form.get("device_code", ""))
            if device is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown code"}
            if device.expires_at <= time.monotonic():
                return 400, {"error": "expired_token"}
            if device.script:
                return 400, {"error": device.script.pop(0)}
            del self._devices[form["device_code"]]
            return 200, self._issue(device.username, None)
        return 400, {"error": "unsupported_grant_type"}

    def _device_authorization(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        device_code = "dc-" + secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self._devices[device_code] = _DeviceCode(
            username=self.device_username,
            user_code=user_code,
            expires_at=time.monotonic() + self.device_expires_in,
            script=list(self.device_script),
        )
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"{self.base_url}/device",
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": f"To sign in, open {self.base_url}/device and enter {user_code}.",
        }

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        token = form.get("token", "")
        entry = self._access.get(token)
        active = entry is not None and entry.expires_at > time.monotonic()
        self.introspections.append((token, active))
        if entry is None or not active:
            return 200, {"active": False}
        return 200, {"active": True, "username": entry.username}


def app_key_and_certificate() -> tuple[bytes, bytes]:
    """An RSA key and a self-signed certificate for it, PEM, as an app registration holds."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acchub-mailbot")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def _unverified(assertion: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _signed_by(assertion: str, pem: bytes, *, audience: str) -> bool:
    """An RS256 JWT signed by the key of ``pem`` (a certificate or a public key), for us."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key: Any = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"CERTIFICATE" in pem
            else serialization.load_pem_public_key(pem)
        )
        jwt.decode(assertion, key, algorithms=["RS256"], audience=audience)
    except (jwt.PyJWTError, ValueError):
        return False
    return True


class _Handler(BaseHTTPRequestHandler):
    owner: OAuthTestServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        path = urllib.parse.urlsplit(self.path).path
        status, payload = self.owner.handle(path, form)
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "text/plain" if isinstance(payload, str) else "application/json"
        )
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The default handler writes every request to stderr; the tests read the counters.
        pass
