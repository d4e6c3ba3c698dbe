"""A real SMTP server (aiosmtpd) on loopback that records what it receives.

The mailbot's outbox is tested against this server over real sockets so that STARTTLS,
authentication and outages behave as they do in production. The server can be stopped and
started again on the same port to simulate an outage of the relay.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.policy
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import free_port
from tests.servers.oauth import OAuthTestServer
from tests.servers.tls import TlsFiles, make_tls_files

log = logging.getLogger(__name__)


def _drop_login_data_notice(record: logging.LogRecord) -> bool:
    """aiosmtpd logs a deprecation notice about its own internals on every AUTH; hide it."""
    return "Session.login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_drop_login_data_notice)


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage
    #: The AUTH login the client used, or None if it did not authenticate.
    login: str | None
    #: Whether the session was encrypted (STARTTLS or implicit TLS) when DATA was sent.
    tls: bool


def _is_tls(smtp: SMTP) -> bool:
    """Whether the session's transport is encrypted (aiosmtpd only records STARTTLS)."""
    transport = smtp.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _TlsAwareSMTP(SMTP):
    """aiosmtpd's SMTP, counting an implicit-TLS session as encrypted for AUTH.

    aiosmtpd only treats STARTTLS as encryption, so with implicit TLS it would refuse AUTH
    unless told not to require TLS at all (which it warns about, an error under our
    ``filterwarnings``). Relaxing the check per connection, only on encrypted ones, keeps
    plain connections refused.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._auth_require_tls = False


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _TlsAwareSMTP(self.handler, **self.SMTP_kwargs)


class _Recorder:
    """aiosmtpd handler: accepts every message and hands it to the server's list."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        auth = session.auth_data
        login = auth.login.decode("utf-8") if isinstance(auth, LoginPassword) else None
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self._server._record(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=raw,
                message=parsed,
                login=login,
                tls=session.ssl is not None or _is_tls(smtp),
            )
        )
        return "250 Message accepted for delivery"


class _OAuthRecorder(_Recorder):
    """Also speaks XOAUTH2 and OAUTHBEARER (RFC 7628) as Exchange Online and Gmail do: the token
    must be active at the OAuth test server and issued to the user named; a refusal is a 334
    challenge with a JSON error, then 535 once the client answers."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server: SMTP, args: list[str], mechanism: str) -> AuthResult:
        oauth = self._server.oauth
        assert oauth is not None
        raw = base64.b64decode(args[1]) if len(args) > 1 else b""
        fields = raw.decode("utf-8", "replace").split("\x01")
        user = token = ""
        for item in fields:
            if item.startswith("user="):
                user = item[len("user=") :]
            elif item.startswith("n,a="):
                user = item[len("n,a=") :].rstrip(",")
            elif item.startswith("auth=Bearer "):
                token = item[len("auth=Bearer ") :]
        self._server._record_auth(mechanism, user)
        if user and oauth.may_use(token, user):
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        with self._server._condition:
            self._server.auth_failures += 1
        error = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"smtp"}')
        await server.challenge_auth(error.decode("ascii"), encode_to_b64=False)
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
        )


class SmtpServer:
    """An aiosmtpd server on ``127.0.0.1:port`` collecting messages in :attr:`received`.

    Options:
    - ``starttls``: offer STARTTLS and refuse mail (and AUTH) before it.
    - ``implicit_tls``: speak TLS from the first byte (SMTPS).
    - ``auth``: require AUTH PLAIN/LOGIN with exactly these credentials.
    - ``oauth``: take XOAUTH2/OAUTHBEARER tokens the OAuth test server says open the mailbox;
      ``mechanisms`` is what AUTH offers.
    - ``refuse_passwords``: answer every PLAIN/LOGIN with this reply, as Exchange Online does
      since Basic authentication was retired.

    Certificates come from ``tls`` (share it with the IMAP server so clients need one CA);
    without it a throwaway CA is made. Use as a context manager, or :meth:`start` then
    :meth:`close`.
    """

    def __init__(
        self,
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
        oauth: OAuthTestServer | None = None,
        mechanisms: tuple[str, ...] = ("XOAUTH2",),
        refuse_passwords: str | None = None,
        tls: TlsFiles | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        if starttls and implicit_tls:
            raise ValueError("choose starttls or implicit_tls, not both")
        if (auth is not None or oauth is not None) and not (starttls or implicit_tls):
            # Credentials in clear text are what the mailbot must never send.
            raise ValueError("auth requires starttls or implicit_tls")
        self.host = host
        self.port = port or 0
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.oauth = oauth
        self.mechanisms = mechanisms
        self.refuse_passwords = refuse_passwords
        #: (mechanism, user) of every OAuth AUTH attempt, in order.
        self.auth_attempts: list[tuple[str, str]] = []
        self._owned_tls_dir: Path | None = None
        if tls is None and (starttls or implicit_tls):
            tls = make_tls_files()
            self._owned_tls_dir = tls.ca_file.parent
        self.tls = tls
        self.ca_file = self.tls.ca_file if self.tls is not None else None
        self.received: list[Received] = []
        self.auth_failures = 0
        self._condition = threading.Condition()
        self._controller: Controller | None = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen; after a :meth:`stop` this reuses the same port, like a relay coming back."""
        if self._controller is not None:
            raise RuntimeError("SMTP server already running")
        if self.port == 0:
            self.port = free_port(self.host)
        # A Controller closes its event loop when stopped, so each start needs a new one.
        recorder = _OAuthRecorder(self) if self.oauth is not None else _Recorder(self)
        controller = _Controller(
            recorder, hostname=self.host, port=self.port, **self._smtp_options()
        )
        controller.start()
        self._controller = controller
        log.info("smtp server listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stop listening; clients then get "connection refused"."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
            log.info("smtp server on %s:%d stopped", self.host, self.port)

    def close(self) -> None:
        """Stop and delete the certificates made here (if none were passed in)."""
        self.stop()
        if self._owned_tls_dir is not None:
            shutil.rmtree(self._owned_tls_dir, ignore_errors=True)
            self._owned_tls_dir = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; returns all received so far.

        Raises ``TimeoutError`` naming how many did arrive, which is the useful fact when a
        test fails.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {count} message(s) on {self.host}:{self.port} within "
                        f"{timeout}s, received {len(self.received)}"
                    )
                self._condition.wait(remaining)
            return list(self.received)

    def clear(self) -> None:
        """Forget what was received so far."""
        with self._condition:
            self.received.clear()

    def _record(self, item: Received) -> None:
        with self._condition:
            self.received.append(item)
            self._condition.notify_all()

    def _smtp_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 10.0}
        if self.tls is not None and self.starttls:
            options.update(tls_context=self.tls.server_context(), require_starttls=True)
        if self.tls is not None and self.implicit_tls:
            options["ssl_context"] = self.tls.server_context()
        if self.auth is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=True,
            )
        if self.oauth is not None:
            every = ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER")
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=True,
                auth_exclude_mechanism=[m for m in every if m not in self.mechanisms],
            )
        return options

    def _record_auth(self, mechanism: str, user: str) -> None:
        with self._condition:
            self.auth_attempts.append((mechanism, user))

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """Accept exactly the configured credentials, over PLAIN or LOGIN."""
        ok = False
        if self.refuse_passwords is not None and mechanism in ("PLAIN", "LOGIN"):
            with self._condition:
                self.auth_failures += 1
            return AuthResult(success=False, handled=False, message=self.refuse_passwords)
        if self.auth is None:
            return AuthResult(success=False, handled=False)
        if mechanism in ("PLAIN", "LOGIN") and isinstance(auth_data, LoginPassword):
            with contextlib.suppress(UnicodeDecodeError):
                ok = (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        if not ok:
            with self._condition:
                self.auth_failures += 1
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)
