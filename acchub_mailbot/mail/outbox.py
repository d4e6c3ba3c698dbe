"""The SMTP edge: the only module that sends mail (and writes .eml copies of it).

A digest keeps one stable Message-ID from the moment it is rendered, so a retry after a failure
that happened after the server accepted it is recognisable as the same message by mail clients.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from acchub_mailbot.config import SmtpSettings
from acchub_mailbot.errors import DeliveryFailed
from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.explain import refused_token_fix
from acchub_mailbot.mail.oauth.provider import TokenProvider, shared_provider
from acchub_mailbot.mail.oauth.responses import _clean, scrub
from acchub_mailbot.mail.oauth.settings import SMTP_TOKEN_NAME
from acchub_mailbot.mail.tls import tls_context

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.outbox")


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Deliver one message; any failure is a :class:`DeliveryFailed` to be retried later."""
    refused = _session(settings, message)
    if refused:
        log.warning("SMTP server refused some recipients: %s", ", ".join(sorted(refused)))


def sign_in(settings: SmtpSettings) -> None:
    """Connect, sign in and log out, sending nothing (``check-config --online``)."""
    _session(settings, None)


def _session(settings: SmtpSettings, message: EmailMessage | None) -> dict[str, object]:
    """One SMTP session: TLS as configured, the sign-in, then the message if there is one."""
    context = tls_context(str(settings.ca_file) if settings.ca_file else None, settings.verify_tls)
    try:
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.oauth is not None and settings.username:
                oauth_login(smtp, settings.username, _token_provider(settings))
            elif settings.username:
                _password_login(smtp, settings)
            return dict(smtp.send_message(message)) if message is not None else {}
    except smtplib.SMTPAuthenticationError as exc:
        reply = _reply(exc)
        basic_off = _BASIC_AUTH_OFF in reply.lower() or "5.7.30" in reply
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port} refused the login for {settings.username}"
            + (f" ({exc.smtp_code} {reply[:120]}) — {_USE_OAUTH}" if basic_off else "")
        ) from None
    except (OAuthError, OAuthPermanentError) as exc:  # the digest waits in the outbox
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port}: OAuth sign-in for {settings.username}: {exc}"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


#: Exchange Online's answers to a password since Basic authentication was retired ("550 5.7.30
#: Basic authentication is not supported for Client Submission", "535 5.7.139 ... basic
#: authentication is disabled").
_BASIC_AUTH_OFF = "basic authentication is"
_USE_OAUTH = (
    "this server takes no passwords; fix: sign in with OAuth 2.0 (set smtp.oauth, then run "
    "`acchub-mailbot auth login --smtp`, or use an app-only grant; see the README)"
)


def _password_login(smtp: smtplib.SMTP, settings: SmtpSettings) -> None:
    offered = {m.upper() for m in smtp.esmtp_features.get("auth", "").split()}
    if offered and not offered & {"PLAIN", "LOGIN", "CRAM-MD5"}:
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port} offers only {', '.join(sorted(offered))} "
            f"sign-in, not a password, for {settings.username} — {_USE_OAUTH}"
        )
    password = settings.password.get_secret_value() if settings.password else ""
    smtp.login(settings.username or "", password)


def _token_provider(settings: SmtpSettings) -> TokenProvider:
    oauth = settings.oauth
    assert oauth is not None
    return shared_provider(oauth, mailbox=SMTP_TOKEN_NAME, subject=settings.username)


def sasl_initial_response(mechanism: str, username: str, token: str) -> str:
    """The client's first message: XOAUTH2 (Google's and Microsoft's) or OAUTHBEARER (RFC 7628)."""
    if mechanism == "OAUTHBEARER":
        return f"n,a={username},\x01auth=Bearer {token}\x01\x01"
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


def oauth_login(smtp: smtplib.SMTP, username: str, provider: TokenProvider) -> None:
    """AUTH with an access token, OAUTHBEARER where the server offers it, else XOAUTH2; when the
    token is refused, refresh it and try once more (as the IMAP login does)."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = "OAUTHBEARER" if "OAUTHBEARER" in offered else "XOAUTH2"

    def attempt(token: str) -> None:
        def respond(challenge: bytes | None = None) -> str:
            # A refusal comes as a 334 challenge carrying the error; the answer is empty.
            return sasl_initial_response(mechanism, username, token) if challenge is None else ""

        smtp.auth(mechanism, respond, initial_response_ok=True)

    token = provider.access_token()
    try:
        attempt(token)
        return
    except smtplib.SMTPAuthenticationError as exc:
        log.info(
            "SMTP refused the access token for %s (%s %s); refreshing it",
            username,
            exc.smtp_code,
            scrub(_reply(exc), token),
        )
        provider.invalidate()
    fresh = provider.access_token()
    try:
        attempt(fresh)
    except smtplib.SMTPAuthenticationError as exc:
        detail = scrub(_reply(exc), token, fresh)
        provider.last_error = f"the SMTP server refused a freshly refreshed token ({detail})"
        fix = refused_token_fix(provider.settings, username, "SMTP")
        raise DeliveryFailed(
            f"SMTP refused a freshly refreshed token for {username} ({exc.smtp_code} "
            f"{detail}) — {fix}"
        ) from None


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    return _clean(text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))


def write_eml(directory: Path, name: str, message: EmailMessage) -> Path:
    """Keep a copy a person can open (the digest when no SMTP server is configured)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(message.as_bytes())
    tmp.replace(path)
    return path
