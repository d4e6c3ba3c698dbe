"""Tests of the test servers themselves: every other integration test trusts these fixtures.

Each test would fail if a server were misconfigured (no TLS, TLS not verifiable, flags
changed behind the client's back, mail lost on restart, AUTH not enforced, ...).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import uuid
from email.message import EmailMessage

import psycopg
import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.dovecot import DovecotError, DovecotServer, ImapAccount, free_port
from tests.servers.postgres import is_postgres_url, temporary_database
from tests.servers.smtp import SmtpServer
from tests.servers.tls import TlsFiles

pytestmark = pytest.mark.integration


def _raw_message(subject: str, body: str = "Hello.") -> bytes:
    message = EmailMessage()
    message["From"] = "Business Central <noreply@example.test>"
    message["To"] = "accountant@example.test"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    message.set_content(body)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


# -- IMAP ----------------------------------------------------------------------------------


def test_imap_login_over_starttls_verifies_certificate(imap_account: ImapAccount) -> None:
    """The plain port offers STARTTLS, and after it the session is TLS verified by our CA."""
    with IMAPClient(imap_account.host, port=imap_account.port, ssl=False, timeout=10) as raw:
        assert raw.has_capability("STARTTLS")
    with imap_account.client() as client:
        sock = client.socket()
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.getpeercert() is not None  # only filled in when the chain was verified
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_imap_login_over_implicit_tls(imap_account: ImapAccount) -> None:
    """The IMAPS port speaks TLS from the first byte with a certificate for 127.0.0.1."""
    with imap_account.client(implicit_tls=True) as client:
        assert isinstance(client.socket(), ssl.SSLSocket)
        assert client.has_capability("IDLE")


def test_system_cas_do_not_trust_the_test_certificate(imap_account: ImapAccount) -> None:
    """Verification is real: without the test CA, both TLS modes refuse the server."""
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            imap_account.host,
            port=imap_account.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=10,
        )
    client = IMAPClient(imap_account.host, port=imap_account.port, ssl=False, timeout=10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(ssl.create_default_context())
    finally:
        with contextlib.suppress(OSError):
            client.shutdown()


def test_imap_rejects_a_wrong_password(imap_account: ImapAccount) -> None:
    """Authentication is enforced, so credential-handling tests mean something."""
    wrong = ImapAccount(
        username=imap_account.username,
        password="not-the-password",
        host=imap_account.host,
        port=imap_account.port,
        imaps_port=imap_account.imaps_port,
        ca_file=imap_account.ca_file,
    )
    with pytest.raises(LoginError), wrong.client():
        pass


def test_append_then_peek_fetch_leaves_message_unseen(imap_account: ImapAccount) -> None:
    """APPEND stores the bytes as sent; BODY.PEEK leaves \\Seen unset, BODY[] sets it."""
    raw = _raw_message("Invitation")
    uid = imap_account.append(raw)
    assert uid is not None
    with imap_account.client() as client:
        client.select_folder("INBOX")
        fetched = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
        assert fetched[b"BODY[]"] == raw
        assert b"\\Seen" not in fetched[b"FLAGS"]
        assert client.search(["UNSEEN"]) == [uid]
        # The contrast proves the check above could fail.
        client.fetch([uid], ["BODY[]"])
        assert b"\\Seen" in client.get_flags([uid])[uid]


def test_append_creates_folder_and_sets_flags(imap_account: ImapAccount) -> None:
    """append() can file a message into a new nested folder with flags already set."""
    uid = imap_account.append(_raw_message("Old"), folder="Archive/2024", flags=[b"\\Seen"])
    with imap_account.client() as client:
        client.select_folder("Archive/2024", readonly=True)
        assert client.search(["ALL"]) == [uid]
        assert b"\\Seen" in client.get_flags([uid])[uid]


def test_seeded_maildir_messages_are_visible(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    """Bulk-seeded Maildir files appear as new, unseen mail in the right folders."""
    user = imap_account.username
    paths = dovecot.seed_maildir(user, "INBOX", (_raw_message(f"msg-{i}") for i in range(40)))
    dovecot.seed_maildir(user, "Processed/2025", [_raw_message("elsewhere")])
    assert len(paths) == 40
    assert all(path.parent.name == "new" for path in paths)
    if os.geteuid() == 0:
        assert {path.stat().st_uid for path in paths} == {dovecot.mail_uid}
    with imap_account.client() as client:
        client.select_folder("INBOX", readonly=True)
        assert len(client.search(["UNSEEN"])) == 40
        assert len(client.search(["SUBJECT", "msg-17"])) == 1
        client.select_folder("Processed/2025", readonly=True)
        assert len(client.search(["SUBJECT", "elsewhere"])) == 1


def test_seeding_a_selected_folder_is_seen_on_noop(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    """Mail seeded while a client has the folder open shows up at its next sync."""
    with imap_account.client() as client:
        client.select_folder("INBOX")
        dovecot.seed_maildir(imap_account.username, "INBOX", [_raw_message("late")])
        client.noop()
        assert len(client.search(["ALL"])) == 1


def test_added_user_and_changed_password_apply_without_restart(dovecot: DovecotServer) -> None:
    """Dovecot re-reads the passwd-file: new users log in at once, old passwords stop working."""
    account = dovecot.new_account("late")
    with account.client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    dovecot.add_user(account.username, "second-password")
    with pytest.raises(LoginError), account.client():
        pass
    with dovecot.account(account.username).client() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_many_simultaneous_connections_per_user(imap_account: ImapAccount) -> None:
    """More than Dovecot's default of 10 connections per user and IP are allowed."""
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(imap_account.client()) for _ in range(15)]
        assert all(client.noop() for client in clients)


def test_restart_keeps_mail_users_and_ports(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    """After a restart the same address answers and appended and seeded mail is still there."""
    port, imaps_port = dovecot.port, dovecot.imaps_port
    uid = imap_account.append(_raw_message("before restart"))
    dovecot.seed_maildir(imap_account.username, "INBOX", [_raw_message("seeded")])
    try:
        dovecot.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((dovecot.host, port), timeout=5)
    finally:
        dovecot.start()
    assert (dovecot.port, dovecot.imaps_port) == (port, imaps_port)
    with imap_account.client() as client:
        client.select_folder("INBOX", readonly=True)
        assert uid in client.search(["SUBJECT", "before restart"])
        assert len(client.search(["ALL"])) == 2


def test_dovecot_start_failure_reports_its_log(tls_ca: TlsFiles) -> None:
    """A server that cannot start says why, with Dovecot's own log lines in the exception."""
    server = DovecotServer(tls=tls_ca)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        # Ports already chosen are kept (as on restart), so the clash cannot be retried away.
        server.port, server.imaps_port = squatter.getsockname()[1], free_port()
        try:
            with pytest.raises(DovecotError, match="Address already in use"):
                server.start()
            assert not server.running
        finally:
            server.close()


# -- SMTP ----------------------------------------------------------------------------------


def test_smtp_plain_records_envelope_and_message(smtp_server: SmtpServer) -> None:
    """A plain send arrives with its envelope, raw bytes and a parsed message."""
    raw = _raw_message("Digest")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail("bot@example.test", ["a@example.test", "b@example.test"], raw)
    (received,) = smtp_server.wait_for(1, timeout=5)
    assert received.mail_from == "bot@example.test"
    assert received.rcpt_tos == ("a@example.test", "b@example.test")
    assert received.message["Subject"] == "Digest"
    assert received.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert (received.login, received.tls) == (None, False)


def test_smtp_wait_for_reports_what_arrived(smtp_server: SmtpServer) -> None:
    """Waiting for mail that never comes fails with a clear count instead of hanging."""
    with pytest.raises(TimeoutError, match="received 0"):
        smtp_server.wait_for(1, timeout=0.2)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_smtp_starttls_and_auth_are_required(
    smtp_tls_server: SmtpServer, tls_ca: TlsFiles, host: str
) -> None:
    """Mail is refused before STARTTLS; after it (verified by our CA) and AUTH it is accepted."""
    assert smtp_tls_server.auth is not None
    user, password = smtp_tls_server.auth
    with smtplib.SMTP(host, smtp_tls_server.port, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("bot@example.test", ["a@example.test"], _raw_message("x"))
        assert refused.value.smtp_code == 530
    with smtplib.SMTP(host, smtp_tls_server.port, timeout=10) as client:
        client.starttls(context=tls_ca.client_context())
        client.login(user, password)
        client.sendmail("bot@example.test", ["a@example.test"], _raw_message("secure"))
    (received,) = smtp_tls_server.wait_for(1, timeout=5)
    assert (received.login, received.tls) == (user, True)


def test_smtp_starttls_fails_verification_with_system_cas(smtp_tls_server: SmtpServer) -> None:
    """The SMTP certificate is only trusted through the test CA."""
    with smtplib.SMTP("localhost", smtp_tls_server.port, timeout=10) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())
        client.close()


def test_smtp_rejects_a_wrong_password(smtp_tls_server: SmtpServer, tls_ca: TlsFiles) -> None:
    """Wrong credentials are refused and nothing is delivered."""
    assert smtp_tls_server.auth is not None
    user = smtp_tls_server.auth[0]
    with smtplib.SMTP("localhost", smtp_tls_server.port, timeout=10) as client:
        client.starttls(context=tls_ca.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(user, "wrong")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("bot@example.test", ["a@example.test"], _raw_message("x"))
    assert smtp_tls_server.auth_failures >= 1
    assert smtp_tls_server.received == []


def test_smtp_outage_refuses_then_recovers_on_same_port(smtp_server: SmtpServer) -> None:
    """stop() makes the port refuse connections; start() serves the same port again."""
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_server.host, port, timeout=5)
    smtp_server.start()
    assert smtp_server.port == port
    with smtplib.SMTP(smtp_server.host, port, timeout=10) as client:
        client.sendmail("bot@example.test", ["a@example.test"], _raw_message("back"))
    assert smtp_server.wait_for(1, timeout=5)[0].message["Subject"] == "back"


def test_smtp_implicit_tls_with_auth(tls_ca: TlsFiles) -> None:
    """SMTPS speaks TLS at once and accepts AUTH there (and only the right password)."""
    with SmtpServer(implicit_tls=True, auth=("u", "p"), tls=tls_ca) as server:
        context = tls_ca.client_context()
        with smtplib.SMTP_SSL("localhost", server.port, timeout=10, context=context) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("u", "wrong")
            client.login("u", "p")
            client.sendmail("bot@example.test", ["a@example.test"], _raw_message("smtps"))
        (received,) = server.wait_for(1, timeout=5)
        assert (received.login, received.tls) == ("u", True)


# -- Database ------------------------------------------------------------------------------


def test_database_url_is_a_fresh_usable_database(database_url: str) -> None:
    """The URL is empty, writable, and of the kind the environment asked for."""
    wants_postgres = is_postgres_url(os.environ.get("ACCHUB_TEST_DATABASE_URL", ""))
    engine = sa.create_engine(database_url)
    try:
        assert engine.dialect.name == ("postgresql" if wants_postgres else "sqlite")
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY, name TEXT)"))
            conn.execute(sa.text("INSERT INTO probe (id, name) VALUES (1, 'client')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM probe")).scalar_one() == "client"
    finally:
        engine.dispose()


def test_temporary_postgres_database_is_dropped() -> None:
    """The per-test database disappears afterwards, even with a connection left open."""
    server_url = os.environ.get("ACCHUB_TEST_DATABASE_URL", "")
    if not is_postgres_url(server_url):
        pytest.skip("ACCHUB_TEST_DATABASE_URL does not name a PostgreSQL server")
    with temporary_database(server_url) as url:
        name = sa.make_url(url).database
        leaked = sa.create_engine(url).connect()  # deliberately not closed before the drop
    try:
        libpq = sa.make_url(server_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(libpq) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            assert found.fetchone() is None
    finally:
        with contextlib.suppress(Exception):
            leaked.close()
        leaked.engine.dispose()
