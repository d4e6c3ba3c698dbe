"""Shared fixtures: real servers on loopback (Dovecot, aiosmtpd, PostgreSQL) for the suite.

The servers themselves live in ``tests/servers`` so benchmarks and demo scripts can start
them too; this module only ties their lifetimes to pytest scopes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.https import World, open_world
from tests.servers.postgres import is_postgres_url, temporary_database
from tests.servers.smtp import SmtpServer
from tests.servers.tls import TlsFiles, make_tls_files

#: Credentials the ``smtp_tls_server`` fixture accepts (also on ``server.auth``).
SMTP_USER = "mailbot@example.test"
SMTP_PASSWORD = "smtp-secret"


@pytest.fixture(scope="session")
def tls_ca() -> Iterator[TlsFiles]:
    """One test CA for the session; every TLS test server presents a certificate it signed."""
    directory = Path(tempfile.mkdtemp(prefix="acchub-tls-"))
    directory.chmod(0o755)
    try:
        yield make_tls_files(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def https_ca() -> trustme.CA:
    """The CA of the live-check tests' HTTPS servers (tests/servers/https.py)."""
    return trustme.CA()


@pytest.fixture
def world(tmp_path: Path, https_ca: trustme.CA) -> Iterator[World]:
    """Microsoft's host names mapped to loopback, for HTTPS servers the test starts."""
    yield from open_world(tmp_path, https_ca)


@pytest.fixture(scope="session")
def dovecot(tls_ca: TlsFiles) -> Iterator[DovecotServer]:
    """The session's Dovecot (stopping one takes ~2.5 s, so tests share it via users)."""
    with DovecotServer(tls=tls_ca) as server:
        yield server


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A fresh, empty mailbox user on the session's Dovecot."""
    if not dovecot.running:
        # A test that stopped the server to simulate an outage must not break the next one.
        dovecot.start()
    return dovecot.new_account()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH) that records what it receives."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_tls_server(tls_ca: TlsFiles) -> Iterator[SmtpServer]:
    """An SMTP server requiring STARTTLS and AUTH as ``SMTP_USER``/``SMTP_PASSWORD``."""
    with SmtpServer(starttls=True, auth=(SMTP_USER, SMTP_PASSWORD), tls=tls_ca) as server:
        yield server


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database of the test's own.

    PostgreSQL (a fresh database, dropped afterwards) when ``ACCHUB_TEST_DATABASE_URL``
    names a PostgreSQL server; otherwise a SQLite file in the test's tmp dir.
    """
    server_url = os.environ.get("ACCHUB_TEST_DATABASE_URL", "")
    if server_url and is_postgres_url(server_url):
        with temporary_database(server_url) as url:
            yield url
    elif server_url:
        raise pytest.UsageError(f"ACCHUB_TEST_DATABASE_URL is not a PostgreSQL URL: {server_url}")
    else:
        yield f"sqlite:///{tmp_path / 'acchub.db'}"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Service processes a test starts (append them): killed if still running at the end, and
    the tails of their logs (``instance-*.log``, ``run-*.log``) printed, shown when it fails."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    for log in sorted([*tmp_path.glob("instance-*.log"), *tmp_path.glob("run-*.log")]):
        print(log.name, log.read_text(errors="replace")[-4000:])
