"""The first sign-in of a mailbox: the device authorization grant (RFC 8628)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import httpx

from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.provider import _post_form, make_http_client
from acchub_mailbot.mail.oauth.responses import (
    DeviceAuthorization,
    TokenErrorResponse,
    TokenGrant,
    device_poll_step,
    parse_device_authorization,
    parse_token_response,
    scrub,
)
from acchub_mailbot.mail.oauth.settings import DEVICE_CODE_GRANT, OAuthSettings
from acchub_mailbot.mail.oauth.store import StoredTokens, TokenStore

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.oauth")


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
