"""Token-endpoint answers turned into values and decisions (pure: no I/O).

Also the scrubbing that keeps token values out of every text that came from a server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

#: OAuth error codes (RFC 6749 §5.2) that mean the server, not the grant, failed: retried.
_TRANSIENT_CODES = frozenset({"temporarily_unavailable", "server_error"})


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
