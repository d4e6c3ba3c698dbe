"""Opening an IMAP connection: TLS, socket options and the login (password or XOAUTH2).

Every failure becomes :class:`~acchub_mailbot.errors.MailboxUnavailable` naming the mailbox,
so the poll retries it and the digest shows why.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from acchub_mailbot.config import ImapSettings
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.mail.oauth.errors import OAuthError, OAuthPermanentError
from acchub_mailbot.mail.oauth.provider import TokenProvider, xoauth2_login
from acchub_mailbot.mail.tls import tls_context


def open_imap(s: ImapSettings, *, mailbox: str, tokens: Callable[[], TokenProvider]) -> IMAPClient:
    """A logged-in client; ``tokens`` is asked for a token provider only with ``oauth:``."""
    context = tls_context(str(s.ca_file) if s.ca_file else None, s.verify_tls)
    try:
        client = IMAPClient(
            s.host,
            port=s.port,
            ssl=s.security == "ssl",
            ssl_context=context if s.security == "ssl" else None,
            timeout=s.timeout_seconds,
        )
        _quiet_protocol_trace(client)
        sock = getattr(client, "socket", lambda: None)()
        if sock is not None:
            # Without TCP_NODELAY some servers add ~40 ms to every command.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if s.security == "starttls":
            client.starttls(context)
        if s.oauth is not None:
            xoauth2_login(client, s.username, tokens())
        else:
            password = s.password.get_secret_value() if s.password else ""
            client.login(s.username, password)
    except (OAuthError, OAuthPermanentError) as exc:
        # The message names the mailbox and the fix (e.g. run auth login); it reaches the
        # poll error, hence the log, `status` and the digest. It never holds a token.
        raise MailboxUnavailable(f"{exc}") from None
    except IMAPClientError as exc:
        raise MailboxUnavailable(
            f"mailbox {mailbox}: login to {s.host}:{s.port} as {s.username} failed "
            f"({one_line(exc)})"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise MailboxUnavailable(
            f"mailbox {mailbox}: cannot connect to {s.host}:{s.port} ({one_line(exc)})"
        ) from None
    return client


def _quiet_protocol_trace(client: IMAPClient) -> None:
    """Stop imaplib from formatting a protocol trace nobody reads.

    imapclient sets imaplib's debug level to 5 so that its ``imapclient.imaplib`` logger can
    show the protocol; imaplib then builds the ``repr`` of every line and every literal it
    reads (whole message bodies) before the logger drops them. On a first scan that costs
    more than a third of the client's CPU. The trace is kept when that logger is enabled.
    """
    imap = getattr(client, "_imap", None)
    if imap is not None and not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        imap.debug = 0


def one_line(exc: BaseException) -> str:
    """An exception as one line, without anything the server echoed back verbatim at length."""
    text = str(exc).replace("\r", " ").replace("\n", " ")
    return text[:300] or type(exc).__name__
