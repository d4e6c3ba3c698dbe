"""App-only sign-in for an unattended service: the token request of each app-only grant.

* Microsoft's client credentials grant, with a client secret or with a certificate. With a
  certificate the request carries a client assertion: a JWT signed with the certificate's key,
  whose header names the certificate by its thumbprint (RFC 7523, as Microsoft's identity platform
  documents it).
* Google's service account with domain-wide delegation: a JWT bearer grant (RFC 7523) that the
  service account signs, naming the mailbox as its subject.

Signing is PyJWT's. Nothing is stored: the provider keeps the access token in memory until shortly
before it expires and asks again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acchub_mailbot.mail.oauth.errors import OAuthPermanentError
from acchub_mailbot.mail.oauth.settings import OAuthSettings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

# PyJWT and cryptography are imported where a grant signs, not with the module: most
# configurations never sign, and their import is a tenth of every command's start-up.

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: How long a signed assertion is good for; the token endpoint only needs it for one request.
ASSERTION_SECONDS = 600


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OAuthPermanentError(
            f"oauth.{key}: cannot read {path} ({exc.strerror}) — fix: point {key} at the file"
        ) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def certificate_assertion(settings: OAuthSettings, *, now: float) -> str:
    """The client assertion for a certificate credential (``client_certificate_file``)."""
    path = settings.client_certificate_file
    assert path is not None
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = _read(path, "client_certificate_file")
    try:
        certificate = x509.load_pem_x509_certificate(data)
        key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise OAuthPermanentError(
            f"oauth.client_certificate_file: {path} must hold the certificate and its private "
            "key, PEM, the key not encrypted — fix: join them into one file (cat cert.pem "
            "key.pem > app.pem)"
        ) from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    headers = {
        "x5t": _b64url(hashlib.sha1(der).digest()),  # noqa: S324 - the thumbprint Entra ID names
        "x5t#S256": _b64url(hashlib.sha256(der).digest()),
    }
    claims = {
        "aud": settings.resolved_token_endpoint,
        "iss": settings.client_id,
        "sub": settings.client_id,
        "jti": str(uuid.uuid4()),
        "nbf": int(now),
        "iat": int(now),
        "exp": int(now) + ASSERTION_SECONDS,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)  # type: ignore[arg-type]


def service_account_assertion(settings: OAuthSettings, subject: str, *, now: float) -> str:
    """The JWT bearer assertion a Google service account signs to act as ``subject``."""
    import jwt

    path = settings.service_account_file
    assert path is not None
    try:
        info: Any = json.loads(_read(path, "service_account_file"))
        email, private_key = info["client_email"], info["private_key"]
    except (ValueError, KeyError, TypeError):
        raise OAuthPermanentError(
            f"oauth.service_account_file: {path} is not a service account key (JSON with "
            "client_email and private_key) — fix: download a JSON key of the service account"
        ) from None
    claims = {
        "iss": email,
        "sub": subject,
        "scope": settings.resolved_scope or "",
        "aud": settings.resolved_token_endpoint,
        # Each assertion is new, so a server that refuses replays (RFC 7523 section 3) takes it.
        "jti": str(uuid.uuid4()),
        "iat": int(now),
        "exp": int(now) + ASSERTION_SECONDS,
    }
    headers = {"kid": info["private_key_id"]} if info.get("private_key_id") else None
    try:
        return jwt.encode(claims, private_key, algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError):
        raise OAuthPermanentError(
            f"oauth.service_account_file: the private key in {path} cannot sign — fix: "
            "download a new JSON key of the service account"
        ) from None


def token_request(
    settings: OAuthSettings,
    *,
    subject: str | None,
    now: float,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The form to POST to the token endpoint, and the secrets in it (to scrub from errors)."""
    if settings.grant == "service_account":
        if not subject:
            raise OAuthPermanentError(
                "oauth.grant service_account: the mailbox address to act as is missing — fix: "
                "set username: to the mailbox's address"
            )
        assertion = service_account_assertion(settings, subject, now=now)
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}, (assertion,)
    form = {"grant_type": "client_credentials", "client_id": settings.client_id}
    if settings.resolved_scope:
        form["scope"] = settings.resolved_scope
    if settings.client_certificate_file is not None:
        assertion = certificate_assertion(settings, now=now)
        form.update(client_assertion_type=CLIENT_ASSERTION_TYPE, client_assertion=assertion)
        return form, (assertion,)
    secret = settings.client_secret(environ)
    if not secret:
        raise OAuthPermanentError(
            "oauth.grant client_credentials: no client secret — fix: set client_secret_env, "
            "client_secret_file or client_certificate_file"
        )
    form["client_secret"] = secret
    return form, (secret,)


__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "JWT_BEARER_GRANT",
    "certificate_assertion",
    "service_account_assertion",
    "token_request",
]
