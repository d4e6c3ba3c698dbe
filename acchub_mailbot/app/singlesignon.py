"""Single sign-on (``web.oidc``) as use cases: start a sign-in at the provider, and finish it
when the browser comes back, with a session like a password sign-in's.

The flow's state, nonce and PKCE verifier live in a short-lived cookie of the browser that
started it, so an answer brought by another browser, or replayed, does not sign anyone in. The
email the ID token proves must belong to an enabled account; every failure is audited.
"""

from __future__ import annotations

import secrets
import threading

from acchub_mailbot.app import audit
from acchub_mailbot.app.runtime import App
from acchub_mailbot.app.websessions import SignedIn, sign_in_as
from acchub_mailbot.config import OidcSettings
from acchub_mailbot.core.oidcflow import (
    CALLBACK_PATH,
    Flow,
    authorization_url,
    flow_from_cookie,
    same_flow,
    signed_in_email,
)
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.sso.oidc import OidcProvider, SignOnFailed

METHOD = "oidc"
#: How long a browser may take at the provider before its flow expires.
FLOW_SECONDS = 600

_lock = threading.Lock()


def label(app: App) -> str | None:
    """The provider's name for the sign-in button, or None without ``web.oidc``."""
    oidc = app.settings.web.oidc
    return oidc.label if oidc is not None else None


def _settings(app: App) -> OidcSettings:
    oidc = app.settings.web.oidc
    if oidc is None:
        raise NotFound("single sign-on is not configured (web.oidc)")
    return oidc


def provider(app: App) -> OidcProvider:
    """The provider client of this app, made once (it caches discovery and keys) and closed
    with the app."""
    oidc = _settings(app)
    with _lock:
        if app.sign_on is None:
            app.sign_on = OidcProvider(oidc)
        return app.sign_on


def redirect_uri(app: App) -> str:
    return f"{app.settings.web.base_url}{CALLBACK_PATH}"


def begin(app: App) -> tuple[str, str]:
    """Where to send the browser, and the cookie value that must come back with it."""
    oidc = _settings(app)
    flow = Flow(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))
    endpoint = provider(app).metadata()["authorization_endpoint"]
    url = authorization_url(
        endpoint, client_id=oidc.client_id, redirect_uri=redirect_uri(app), scopes=oidc.scopes,
        flow=flow,
    )  # fmt: skip
    return url, flow.cookie()


def finish(
    app: App,
    *,
    code: str | None,
    state: str | None,
    error: str | None,
    cookie: str | None,
    address: str | None,
    user_agent: str | None,
) -> tuple[str, SignedIn]:
    """The new session's cookie value and identity; ``Refused`` saying why otherwise."""
    oidc = _settings(app)
    flow = flow_from_cookie(cookie)
    try:
        if error:
            raise SignOnFailed(f"the provider did not sign you in ({error[:100]})")
        if not same_flow(flow, state) or flow is None or not code:
            raise SignOnFailed("this sign-in was not started in this browser, or it expired")
        client = provider(app)
        token = client.exchange(code, redirect_uri=redirect_uri(app), verifier=flow.verifier)
        claims = client.verify(token)
        email = signed_in_email(claims, nonce=flow.nonce, email_claims=oidc.email_claims)
        if email is None:
            raise SignOnFailed(
                "the provider's answer names no verified email for this sign-in "
                f"(looked for {', '.join(oidc.email_claims)})"
            )
    except Refused as exc:
        audit.record(
            app, "(single sign-on)", audit.SIGN_IN_FAILED, address=address,
            detail={"method": METHOD, "reason": str(exc)[:200]},
        )  # fmt: skip
        raise
    return sign_in_as(app, email, method=METHOD, address=address, user_agent=user_agent)
