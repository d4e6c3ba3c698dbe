"""A throwaway certificate authority shared by the test IMAP and SMTP servers.

Both servers present certificates signed by the same CA so that client code under test can
verify TLS exactly as in production, against one ``ca_file``, instead of disabling checks.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names the server certificate is valid for; clients may connect by either.
SERVER_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and of one server certificate it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate (for aiosmtpd)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only the test CA, with full verification."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_tls_files(directory: Path | None = None) -> TlsFiles:
    """Create a CA and a server certificate for ``localhost``/``127.0.0.1`` in ``directory``.

    The directory (a fresh traversable one when omitted) must be readable by the servers, which
    may run under another uid; the key stays private to the owner.
    """
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="acchub-tls-"))
        directory.chmod(0o755)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="acchub-mailbot test CA")
    server_cert = ca.issue_cert(*SERVER_NAMES)
    files = TlsFiles(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server-cert.pem",
        key_file=directory / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_file))
    server_cert.cert_chain_pems[0].write_to_path(str(files.cert_file))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert_file), append=True)
    server_cert.private_key_pem.write_to_path(str(files.key_file))
    os.chmod(files.key_file, 0o600)
    return files
