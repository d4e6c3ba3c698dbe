"""An OpenID Connect relying party's calls to its provider, over verified TLS.

Discovery (``ISSUER/.well-known/openid-configuration``, whose ``issuer`` must be the configured
one exactly), the authorization code exchange with the PKCE verifier, and the ID token's checks:
a signature by one of the provider's published keys (fetched again once when a token names a
key not seen yet, as after a key rotation), an algorithm the provider announces and never
``none`` or a shared-secret one, the issuer, this app as audience, and the times (60 s of clock
skew allowed). Nothing here logs a code, a token or the client secret.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any

import httpx
import jwt

from acchub_mailbot.config import OidcSettings
from acchub_mailbot.errors import Refused

log = logging.getLogger("acchub_mailbot.web")

#: Asymmetric algorithms only: a token "signed" with the client secret or with none is refused.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 60
#: How long discovery and keys are kept before being read again.
CACHE_SECONDS = 3600


class SignOnFailed(Refused):
    """The provider could not be reached, or its answer does not hold; the message says which."""


class OidcProvider:
    """The configured provider; one per process, shared by the requests (thread-safe)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        context = ssl.create_default_context()
        if settings.ca_file is not None:
            context.load_verify_locations(cafile=str(settings.ca_file))
        self._http = httpx.Client(
            timeout=settings.timeout_seconds, verify=context, follow_redirects=False
        )
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, dict[str, jwt.PyJWK]] | None = None

    def close(self) -> None:
        self._http.close()

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata[0] < CACHE_SECONDS:
                return self._metadata[1]
        issuer = self.settings.issuer
        found = self._get_json(f"{issuer}/.well-known/openid-configuration", "discovery")
        if found.get("issuer") != issuer:
            raise SignOnFailed(
                f"the provider's discovery document names issuer {found.get('issuer')!r}, not "
                f"{issuer!r} — fix: set web.oidc.issuer to the provider's exact issuer"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not str(found.get(key, "")).startswith("https://"):
                raise SignOnFailed(f"the provider's discovery document has no https {key}")
        with self._lock:
            self._metadata = (time.monotonic(), found)
        return found

    def exchange(self, code: str, *, redirect_uri: str, verifier: str) -> str:
        """The ID token for an authorization code."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": verifier,
        }
        if self.settings.client_secret is not None:
            form["client_secret"] = self.settings.client_secret.get_secret_value()
        endpoint = self.metadata()["token_endpoint"]
        try:
            reply = self._http.post(endpoint, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SignOnFailed(f"the provider's token endpoint did not answer ({exc})") from None
        try:
            body = reply.json()
        except ValueError:
            body = {}
        if reply.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise SignOnFailed(
                f"the provider refused the sign-in code (HTTP {reply.status_code} {error})".strip()
            )
        token = body.get("id_token")
        if not isinstance(token, str):
            raise SignOnFailed("the provider's answer has no ID token (is openid in the scopes?)")
        return token

    def verify(self, id_token: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience and times hold."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise SignOnFailed("the ID token is not a JWT") from None
        algorithm = header.get("alg")
        announced = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        if algorithm not in ALGORITHMS or algorithm not in announced:
            raise SignOnFailed(f"the ID token is signed with {algorithm!r}, which is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[algorithm],
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SignOnFailed(f"the ID token does not hold: {exc}") from None
        return claims

    def _key(self, kid: object) -> jwt.PyJWK:
        for fresh in (False, True):
            keys = self._jwks(fresh)
            if isinstance(kid, str) and kid in keys:
                return keys[kid]
            if kid is None and len(keys) == 1:
                return next(iter(keys.values()))
        raise SignOnFailed("the ID token is signed by a key the provider does not publish")

    def _jwks(self, fresh: bool) -> dict[str, jwt.PyJWK]:
        with self._lock:
            cached = self._keys
        if cached is not None and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        document = self._get_json(self.metadata()["jwks_uri"], "keys")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type this library does not know: not one a token may use
            keys[str(entry.get("kid", ""))] = key
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            reply = self._http.get(url, headers={"Accept": "application/json"})
            reply.raise_for_status()
            found = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("single sign-on: the provider's %s at %s failed: %s", what, url, exc)
            raise SignOnFailed(f"the sign-in provider's {what} could not be read") from None
        if not isinstance(found, dict):
            raise SignOnFailed(f"the sign-in provider's {what} is not a JSON object")
        return found
