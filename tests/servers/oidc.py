"""A local OpenID Connect provider over HTTPS for the single sign-on tests.

It plays the firm's Entra ID tenant: a discovery document, an authorization endpoint that signs
in whoever the test names (``sign_in_as``) and sends the browser back with a code, a token
endpoint that checks the client, the redirect URI and the PKCE verifier before it answers with a
signed ID token, and the published keys. Switches make it lie the ways a broken or hostile
provider could (``tamper``): another audience or issuer, an expired token, a foreign key, no
signature, another nonce, an unverified email.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "acchub-dashboard"
CLIENT_SECRET = "test-oidc-secret-7f3a"


@dataclass
class _Grant:
    claims: dict[str, Any]
    redirect_uri: str
    challenge: str
    nonce: str


@dataclass
class OidcProvider:
    """Use as a context manager; ``issuer`` is ``https://127.0.0.1:PORT``."""

    ca: trustme.CA
    folder: Path
    #: The claims of the person who signs in at the next /authorize (email, name, ...).
    user: dict[str, Any] = field(default_factory=dict)
    #: One of: "", "audience", "issuer", "expired", "foreign_key", "none", "nonce",
    #: "unverified_email", "refuse".
    tamper: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.ca_file = self.folder / "oidc-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.provider = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def sign_in_as(self, email: str, **claims: Any) -> None:
        self.user = {"email": email, "name": email.split("@")[0], **claims}

    # -- the endpoints ---------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
        }

    def keys(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> str:
        """Where the browser goes next: back to the app, with a code (or an error)."""
        redirect = query["redirect_uri"]
        if self.tamper == "refuse":
            return _with(redirect, error="access_denied", state=query.get("state", ""))
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                dict(self.user), redirect, query.get("code_challenge", ""), query.get("nonce", "")
            )
        return _with(redirect, code=code, state=query.get("state", ""))

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code is good once
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        if digest.decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        return 200, {"id_token": self._id_token(grant), "token_type": "Bearer"}

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": f"sub-{grant.claims.get('email')}",
            "iat": now, "exp": now + 3600, "nonce": grant.nonce, **grant.claims,
        }  # fmt: skip
        tamper = self.tamper
        if tamper == "audience":
            claims["aud"] = "another-app"
        elif tamper == "issuer":
            claims["iss"] = "https://login.evil.example"
        elif tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif tamper == "nonce":
            claims["nonce"] = "not-the-flows"
        elif tamper == "unverified_email":
            claims["email_verified"] = False
        if tamper == "none":
            return jwt.encode(claims, None, algorithm="none")
        key = self._foreign if tamper == "foreign_key" else self._key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def _with(url: str, **params: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        provider: OidcProvider = self.server.provider  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        if path == "/.well-known/openid-configuration":
            self._json(200, provider.discovery())
        elif path == "/keys":
            self._json(200, provider.keys())
        elif path == "/authorize":
            self.send_response(302)
            self.send_header("Location", provider.authorize(params))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        provider: OidcProvider = self.server.provider  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if self.path == "/token":
            self._json(*provider.token(form))
        else:
            self._json(404, {"error": "not_found"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
