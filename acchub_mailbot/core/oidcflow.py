"""The browser's side of an OpenID Connect sign-in, as plain data: the authorization request
(with PKCE, RFC 7636, and a nonce), the flow's secrets kept in a cookie until the browser comes
back, and the checks on what comes back that do not need the provider's keys.

The ID token's signature, issuer, audience and lifetime are checked where the keys are fetched
(``sso.oidc``); this module checks that the answer belongs to the flow this browser started
(``state``, ``nonce``) and which email it signs in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

#: The callback's path below ``web.base_url``; registered as the app's redirect URI.
CALLBACK_PATH = "/login/oidc/callback"


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress: what the browser must bring back, and the PKCE verifier."""

    state: str
    nonce: str
    verifier: str

    def cookie(self) -> str:
        return f"{self.state}.{self.nonce}.{self.verifier}"


def flow_from_cookie(value: str | None) -> Flow | None:
    parts = (value or "").split(".")
    if len(parts) != 3 or not all(43 <= len(p) <= 128 for p in parts):
        return None
    return Flow(*parts)


def challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    endpoint: str, *, client_id: str, redirect_uri: str, scopes: Sequence[str], flow: Flow
) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": challenge(flow.verifier),
            "code_challenge_method": "S256",
            "response_mode": "query",
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def same_flow(flow: Flow | None, state: str | None) -> bool:
    """The browser came back from the flow it started here (not one started elsewhere)."""
    return flow is not None and bool(state) and hmac.compare_digest(flow.state, str(state))


def signed_in_email(
    claims: Mapping[str, Any], *, nonce: str, email_claims: Sequence[str]
) -> str | None:
    """The email the ID token signs in, or None: a token for another flow (nonce), an email
    the provider says is unverified, or no usable email claim at all."""
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
        return None
    if claims.get("email_verified") is False:
        return None
    for name in email_claims:
        value = claims.get(name)
        if isinstance(value, str) and "@" in value.strip() and " " not in value.strip():
            return value.strip().lower()
    return None
