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
from acchub_mailbot.mail.tls import tls_context

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.outbox")


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Deliver one message; any failure is a :class:`DeliveryFailed` to be retried later."""
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
            if settings.username:
                password = settings.password.get_secret_value() if settings.password else ""
                smtp.login(settings.username, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port} refused the login for {settings.username}"
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryFailed(
            f"SMTP {settings.host}:{settings.port}: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if refused:
        log.warning("SMTP server refused some recipients: %s", ", ".join(sorted(refused)))


def write_eml(directory: Path, name: str, message: EmailMessage) -> Path:
    """Keep a copy a person can open (the digest when no SMTP server is configured)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.eml"
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(message.as_bytes())
    tmp.replace(path)
    return path
