"""A throwaway Dovecot IMAP server for tests, benchmarks and demos.

The mailbot's IMAP code is exercised against a real Dovecot rather than a fake, because the
behaviours that matter (STARTTLS, UID handling, ``\\Seen`` semantics, IDLE timing, restarts)
are exactly the ones a fake gets wrong. Everything lives in one scratch directory: the
configuration, one ``passwd-file`` per user, the users' Maildirs, runtime sockets and logs;
``/etc/dovecot`` is never read or touched. Auth-failure penalties are switched off so that a
test of a wrong password does not slow down the logins of the tests after it.

Starting takes well under a second but stopping takes ~2.5 s, so start one server per test
session and isolate tests with separate users (:meth:`DovecotServer.new_account`).

Works as root (mail is owned by the unprivileged ``nobody`` account, because Dovecot refuses
uid 0 for mail) and as a normal user (Dovecot's rootless mode, mail owned by that user).
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import logging
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient, imap_utf7

from tests.servers.tls import TlsFiles, make_tls_files

log = logging.getLogger(__name__)

_DH_FILE = Path("/usr/share/dovecot/dh.pem")
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0
_START_ATTEMPTS = 3
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
_LOGIN_LINE = re.compile(
    r"imap-login: Info: Login: user=<(?P<user>[^>]*)>.*session=<(?P<session>[^>]*)>"
)
_GONE_LINE = re.compile(r"imap\([^)]*\)<\d+><(?P<session>[^>]*)>: Info: Disconnected")


def _sleep_to_next_second() -> None:
    """Wait until the wall clock has entered the next second (Dovecot's file stamps are seconds)."""
    time.sleep(1.02 - (time.time() % 1.0))


class DovecotError(RuntimeError):
    """Dovecot could not be configured, started or stopped; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (servers that need a concrete port use this)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def find_dovecot() -> str:
    """Path of the ``dovecot`` binary; ``/usr/sbin`` is often missing from a user's PATH."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise DovecotError(
            "dovecot is not installed: run ./scripts/test.sh, or "
            "`apt-get install -y dovecot-imapd` (Debian/Ubuntu)"
        )
    return found


def dovecot_version(binary: str) -> tuple[int, ...]:
    """The ``(major, minor, ...)`` version of a Dovecot binary."""
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    match = re.match(r"\s*(\d+(?:\.\d+)*)", output)
    if match is None:
        raise DovecotError(f"cannot parse the output of `{binary} --version`: {output!r}")
    return tuple(int(part) for part in match.group(1).split("."))


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox user on a test server, with what a client needs to reach it."""

    username: str
    password: str
    host: str
    port: int
    imaps_port: int
    ca_file: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that verifies the server against the test CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @contextlib.contextmanager
    def client(self, *, implicit_tls: bool = False, timeout: float = 10.0) -> Iterator[IMAPClient]:
        """A logged-in client, over STARTTLS (default) or implicit TLS, certificate verified.

        The timeout is always set: imapclient's default waits forever on a silent server.
        """
        if implicit_tls:
            client = IMAPClient(
                self.host,
                port=self.imaps_port,
                ssl=True,
                ssl_context=self.ssl_context(),
                timeout=timeout,
            )
        else:
            client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            if not implicit_tls:
                client.starttls(self.ssl_context())
            client.login(self.username, self.password)
            yield client
        finally:
            # The body may already have logged out or lost the connection on purpose.
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()

    def append(
        self, raw: bytes, folder: str = "INBOX", flags: Sequence[str | bytes] = ()
    ) -> int | None:
        """APPEND one message over IMAP (creating ``folder`` if needed); returns its UID.

        This is the honest delivery path for small sets; use
        :meth:`DovecotServer.seed_maildir` for thousands of messages.
        """
        with self.client() as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
        found = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        return int(found.group(1)) if found else None


class DovecotServer:
    """A Dovecot 2.3 IMAP server in a scratch directory, listening on 127.0.0.1 only.

    ``port`` speaks plain IMAP and offers STARTTLS; ``imaps_port`` is implicit TLS. Both
    present a certificate for ``localhost``/``127.0.0.1`` signed by the CA in ``ca_file``.
    Ports are picked when the server first starts and kept across :meth:`restart`, so a
    client can reconnect to the same address as after a real server restart.

    Use as a context manager, or call :meth:`start` and then :meth:`close`.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        tls: TlsFiles | None = None,
        host: str = "127.0.0.1",
        max_userip_connections: int = 1000,
        max_connections: int = 0,
        mail_debug: bool = False,
        binary: str | None = None,
    ) -> None:
        self._owns_workdir = workdir is None
        if workdir is None:
            # pytest's tmp_path sits under a mode-0700 directory that the mail uid cannot
            # traverse, hence a fresh world-traversable directory.
            workdir = Path(tempfile.mkdtemp(prefix="acchub-dovecot-"))
            workdir.chmod(0o755)
        self.workdir = workdir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = 0
        self.imaps_port = 0
        self.instance_name = f"acchub-test-{uuid.uuid4().hex[:12]}"
        self.tls = tls if tls is not None else make_tls_files(self.workdir / "tls")
        self.ca_file = self.tls.ca_file
        self.max_userip_connections = max_userip_connections
        self.max_connections = max_connections
        self.mail_debug = mail_debug
        self.binary = binary or find_dovecot()
        self.rootless = os.geteuid() != 0
        if self.rootless:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        else:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        self.config_file = self.workdir / "dovecot.conf"
        self.users_dir = self.workdir / "users"
        self.log_file = self.workdir / "dovecot.log"
        self.stderr_file = self.workdir / "dovecot.stderr"
        self.home_root = self.workdir / "home"
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._seq = itertools.count()
        self._check_version()

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> DovecotServer:
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
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Dovecot in the foreground as a child process and wait until it greets."""
        if self.running:
            raise DovecotError("Dovecot is already running")
        keep_ports = self.port != 0
        for attempt in range(1, _START_ATTEMPTS + 1):
            if not keep_ports:
                self.port, self.imaps_port = free_port(self.host), free_port(self.host)
            try:
                self._start_once()
                return
            except DovecotError as error:
                # Another process may have taken a port between picking and binding it.
                retry = not keep_ports and attempt < _START_ATTEMPTS
                if retry and "Address already in use" in str(error):
                    log.warning("dovecot ports were taken, retrying with new ones")
                    continue
                raise

    def stop(self) -> None:
        """Stop Dovecot (it takes ~2.5 s); mail and users stay for a later :meth:`start`."""
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.error("dovecot did not stop in %ss, killing it", _STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait(timeout=_STOP_TIMEOUT)
        self._kill_leftover_children()
        log.info("dovecot %s stopped", self.instance_name)

    def _kill_leftover_children(self) -> None:
        """End the login and imap processes the master left behind.

        Run in the foreground, the master does not take its client processes down with it, so
        open connections would outlive a "restart"; a real server restart drops them.
        """
        title = f"dovecot-{self.instance_name}/"
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
            except OSError:
                continue
            if cmdline.startswith(title):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), 9)

    def restart(self) -> None:
        """Stop and start again on the same ports, as a real server restart would."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and, if the scratch directory was created here, delete it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- users and mail --------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> None:
        """Add a user, or change its password; a running Dovecot sees it without a restart.

        Each user has its own passwd-file (the path contains ``%u``): Dovecot stats a
        passwd-file at most once per second and serves its cached copy in between, which
        would hide a user added right after another login, but a file it has never looked
        up is read at once. A password change is only noticed after that second has passed,
        so changing one waits a second or two.
        """
        if not _USERNAME.match(username) or ":" in password or "\n" in password:
            raise ValueError(f"unsupported test username or password for {username!r}")
        home = self.home_root / username
        home.mkdir(parents=True, exist_ok=True)
        self._own(home)
        changing = username in self._users
        if changing:
            # Make the new file's mtime differ from the old one's, whatever its size.
            _sleep_to_next_second()
        self._users[username] = password
        self.users_dir.mkdir(exist_ok=True)
        line = f"{username}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::\n"
        staging = self.users_dir / f".{username}.tmp"
        staging.write_text(line, encoding="utf-8")
        # The auth process runs as Dovecot's internal user, not as the owner of this file.
        staging.chmod(0o644)
        # Replaced atomically so that Dovecot never reads a half-written line.
        os.replace(staging, self.users_dir / username)
        if changing:
            # Let any lookup cached in the second of the write expire.
            _sleep_to_next_second()

    def new_account(self, prefix: str = "user") -> ImapAccount:
        """Create a fresh, uniquely named user and return how to reach it."""
        username = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.add_user(username, f"pw-{uuid.uuid4().hex}")
        return self.account(username)

    def account(self, username: str) -> ImapAccount:
        """Connection details for an existing user."""
        if self.port == 0:
            raise DovecotError("start the server before asking for accounts (ports not chosen)")
        return ImapAccount(
            username=username,
            password=self._users[username],
            host=self.host,
            port=self.port,
            imaps_port=self.imaps_port,
            ca_file=self.ca_file,
        )

    def maildir(self, username: str) -> Path:
        """The user's Maildir root (the INBOX); other folders are ``.Name`` inside it."""
        if username not in self._users:
            raise KeyError(f"unknown user {username!r}")
        return self.home_root / username / "Maildir"

    def folder_dir(self, username: str, folder: str) -> Path:
        """The Maildir++ directory holding ``folder`` (hierarchy separator ``/``)."""
        root = self.maildir(username)
        if folder.upper() == "INBOX":
            return root
        if "." in folder or folder.startswith("/") or folder.endswith("/") or not folder:
            # Maildir++ uses "." on disk for the hierarchy, so a dot cannot be represented.
            raise ValueError(f"folder name not representable in Maildir++: {folder!r}")
        # Dovecot stores folder names on disk in IMAP's modified UTF-7.
        encoded: str = imap_utf7.encode(folder).decode("ascii")
        return root / ("." + encoded.replace("/", "."))

    def seed_maildir(self, username: str, folder: str, messages: Iterable[bytes]) -> list[Path]:
        """Deliver messages straight into a Maildir, ~1,000/s, as new (unseen) mail.

        Each message is written under ``tmp/`` and renamed into ``new/``, the Maildir delivery
        protocol, so a running Dovecot never sees a partial file. Returns the file paths in
        delivery order, which is also UID order once Dovecot assigns UIDs.
        """
        target = self.folder_dir(username, folder)
        self._make_maildir(target, is_subfolder=target != self.maildir(username))
        delivered: list[Path] = []
        pid = os.getpid()
        for raw in messages:
            seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
            name = f"{seconds}.M{micros}P{pid}Q{next(self._seq)}.acchub-test"
            staging = target / "tmp" / name
            staging.write_bytes(raw)
            self._own(staging)
            final = target / "new" / name
            os.rename(staging, final)
            delivered.append(final)
        return delivered

    # -- diagnostics -----------------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Dovecot's log and stderr, for error messages."""
        parts = []
        for path in (self.log_file, self.stderr_file):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            if text.strip():
                tail = "\n".join(text.splitlines()[-lines:])
                parts.append(f"--- {path} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts) or "(Dovecot wrote no log)"

    def open_sessions(self) -> dict[str, int]:
        """Connections logged in and not yet gone, per user, as Dovecot's log tells them
        (since the last start: a stop ends every connection without logging each)."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return {}
        text = text[max(0, text.rfind(" starting up ")) :]
        users: dict[str, str] = {}
        for match in _LOGIN_LINE.finditer(text):
            users[match["session"]] = match["user"]
        for match in _GONE_LINE.finditer(text):
            users.pop(match["session"], None)
        counts: dict[str, int] = {}
        for user in users.values():
            counts[user] = counts.get(user, 0) + 1
        return counts

    # -- internals -------------------------------------------------------------------------

    def _check_version(self) -> None:
        version = dovecot_version(self.binary)
        if version[:2] != (2, 3):
            raise DovecotError(
                f"Dovecot {'.'.join(map(str, version))} found at {self.binary}; the test "
                "server writes Dovecot 2.3 configuration (2.4 changed the format)"
            )

    def _start_once(self) -> None:
        for sub in ("run", "state"):
            (self.workdir / sub).mkdir(exist_ok=True)
        self.users_dir.mkdir(exist_ok=True)
        self.config_file.write_text(self._config(), encoding="utf-8")
        with self.stderr_file.open("ab") as stderr:
            # A new session lets stop() kill every Dovecot child if the master hangs.
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        log.info(
            "dovecot %s listening on %s:%d (imap) and :%d (imaps), workdir %s",
            self.instance_name,
            self.host,
            self.port,
            self.imaps_port,
            self.workdir,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise DovecotError(
                    f"dovecot exited with status {code} while starting "
                    f"(config {self.config_file})\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as conn:
                    greeting = conn.recv(200)
                with socket.create_connection((self.host, self.imaps_port), timeout=2):
                    pass
                if greeting.startswith(b"* OK"):
                    return
                last_error = DovecotError(f"unexpected greeting {greeting!r}")
            except OSError as error:
                last_error = error
            time.sleep(0.05)
        raise DovecotError(
            f"dovecot did not answer on {self.host}:{self.port} within {_START_TIMEOUT}s "
            f"(last error: {last_error})\n{self.log_tail()}"
        )

    def _config(self) -> str:
        ssl_dh = f"ssl_dh = <{_DH_FILE}\n" if _DH_FILE.exists() else ""
        rootless = ""
        if self.rootless:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            rootless = (
                f"default_internal_user = {user}\n"
                f"default_internal_group = {group}\n"
                f"default_login_user = {user}\n"
            )
        login_chroot = "  chroot =\n" if self.rootless else ""
        return (
            "# Throwaway Dovecot 2.3 instance for the acchub-mailbot test suite.\n"
            f"base_dir = {self.workdir / 'run'}\n"
            f"state_dir = {self.workdir / 'state'}\n"
            f"instance_name = {self.instance_name}\n"
            "protocols = imap\n"
            # A stop or restart drops client connections, as a real server restart does.
            "shutdown_clients = yes\n"
            f"listen = {self.host}\n"
            f"log_path = {self.log_file}\n"
            "auth_verbose = yes\n"
            f"mail_debug = {'yes' if self.mail_debug else 'no'}\n"
            "ssl = yes\n"
            f"ssl_cert = <{self.tls.cert_file}\n"
            f"ssl_key = <{self.tls.key_file}\n"
            f"{ssl_dh}"
            "disable_plaintext_auth = no\n"
            "auth_mechanisms = plain login\n"
            "auth_failure_delay = 0\n"
            "mail_location = maildir:~/Maildir\n"
            "mail_fsync = never\n"
            f"mail_max_userip_connections = {self.max_userip_connections}\n"
            "first_valid_uid = 1\n"
            "first_valid_gid = 1\n"
            "namespace inbox {\n  inbox = yes\n  separator = /\n}\n"
            "passdb {\n  driver = passwd-file\n"
            f"  args = scheme=PLAIN username_format=%u {self.users_dir}/%u\n}}\n"
            "userdb {\n  driver = passwd-file\n"
            f"  args = username_format=%u {self.users_dir}/%u\n}}\n"
            # No auth-failure penalty (a delay per client IP growing to 15 s after each wrong
            # password), which would otherwise slow every login after one failing test.
            "service anvil {\n"
            f"{login_chroot}"
            "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
            "service imap-login {\n"
            f"{login_chroot}"
            f"  inet_listener imap {{\n    address = {self.host}\n    port = {self.port}\n  }}\n"
            "  inet_listener imaps {\n"
            f"    address = {self.host}\n    port = {self.imaps_port}\n    ssl = yes\n  }}\n"
            "}\n"
            f"{self._capacity()}"
            f"{rootless}"
        )

    def _capacity(self) -> str:
        """Service limits for many connections at once (the defaults stop near 100).

        TLS ends in the login processes, which then proxy the connection for its whole life:
        in one-process-per-connection mode that is two processes per client, hence the
        high-performance mode here, a few login processes each serving many clients.
        """
        if not self.max_connections:
            return ""
        n = self.max_connections + 100
        per_process = 25  # imap processes each serve this many connections
        return (
            f"default_client_limit = {n}\n"
            "service imap-login {\n  service_count = 0\n  process_min_avail = 2\n"
            f"  client_limit = {n}\n  process_limit = 4\n}}\n"
            f"service imap {{\n  service_count = 0\n  client_limit = {per_process}\n"
            f"  process_limit = {n // per_process + 10}\n}}\n"
            f"service anvil {{\n  client_limit = {2 * n + 10}\n}}\n"
            f"service auth {{\n  client_limit = {2 * n + 10}\n}}\n"
        )

    def _make_maildir(self, folder_dir: Path, *, is_subfolder: bool) -> None:
        created: list[Path] = []
        for path in (folder_dir.parent, folder_dir):
            if not path.exists():
                path.mkdir(mode=0o700)
                created.append(path)
        for sub in ("cur", "new", "tmp"):
            path = folder_dir / sub
            if not path.exists():
                path.mkdir(mode=0o700)
                created.append(path)
        if is_subfolder:
            marker = folder_dir / "maildirfolder"
            if not marker.exists():
                marker.touch()
                created.append(marker)
        for path in created:
            self._own(path)

    def _own(self, path: Path) -> None:
        """Give a path to the mail uid; Dovecot will not touch mail owned by someone else."""
        if not self.rootless:
            os.chown(path, self.mail_uid, self.mail_gid)
