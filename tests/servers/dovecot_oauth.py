"""The test Dovecot with XOAUTH2 and OAUTHBEARER sign-in checked by a local introspection URL.

:class:`OAuthDovecotServer` is the plain :class:`~tests.servers.dovecot.DovecotServer` plus an
``oauth2`` password database (Dovecot 2.3 syntax) that validates bearer tokens by ``POST``-ing
them to an introspection endpoint, normally :class:`~tests.servers.oauth.OAuthTestServer`'s.
App-only tokens (the client credentials grant) name an app, not a mailbox, so introspection
alone cannot say which mailboxes they open. As Exchange Online checks its application access
policy, a second passdb for the same mechanisms asks the token server's ``/mailbox-access``
whether the token may open the mailbox the client named, through a small ``checkpassword``
program; it is asked only when introspection did not already accept the token for that user.
Passwords still work for PLAIN and LOGIN, so seeding mail is unchanged; a password is never
accepted as a bearer token, nor a token as a password. The auth cache stays off (Dovecot's
default), so every login asks the introspection endpoint again and an expired token is refused
at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.servers.dovecot import DovecotError, DovecotServer

_MECHANISMS = "auth_mechanisms = plain login\n"
_PASSWD_FILE_PASSDB = "passdb {\n  driver = passwd-file\n"

#: The checkpassword program (Dovecot writes "user NUL token NUL" to its fd 3; success execs the
#: reply program named in argv[1] with USER set, failure exits 1, trouble exits 111).
_APP_ACCESS = """#!{python}
import json, os, sys, urllib.parse, urllib.request

with os.fdopen(3, "rb") as handle:
    user, token = handle.read().split(b"\\0")[:2]
body = urllib.parse.urlencode({{"token": token.decode(), "user": user.decode()}}).encode()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
try:
    with opener.open({url!r}, body, timeout=5) as answer:
        allowed = json.load(answer)["allowed"]
except Exception:
    sys.exit(111)
if not allowed:
    sys.exit(1)
os.environ["USER"] = user.decode()
os.execv(sys.argv[1], sys.argv[1:])
"""


def _system_python() -> str:
    """An interpreter Dovecot's unprivileged auth process may run (the test's own may sit
    under a home directory it cannot enter); the program needs only the standard library."""
    system = Path("/usr/bin/python3")
    return str(system) if os.access(system, os.X_OK) else sys.executable


class OAuthDovecotServer(DovecotServer):
    """Dovecot accepting XOAUTH2/OAUTHBEARER tokens that ``introspection_url`` calls active."""

    def __init__(self, introspection_url: str, workdir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.introspection_url = introspection_url
        self.oauth2_config_file = self.workdir / "dovecot-oauth2.conf.ext"
        self.app_access_program = self.workdir / "app-access"
        self.mailbox_access_url = introspection_url.rsplit("/", 1)[0] + "/mailbox-access"

    def _config(self) -> str:
        base = super()._config()
        if _MECHANISMS not in base or _PASSWD_FILE_PASSDB not in base:
            # The base configuration changed shape; fail loudly rather than test a wrong setup.
            raise DovecotError("unexpected base Dovecot configuration; update OAuthDovecotServer")
        self.oauth2_config_file.write_text(
            "# Bearer tokens are checked by POSTing token=... to the test's introspection URL.\n"
            f"introspection_url = {self.introspection_url}\n"
            "introspection_mode = post\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "timeout_msecs = 5000\n",
            encoding="utf-8",
        )
        # The auth process reads this file after dropping root.
        self.oauth2_config_file.chmod(0o644)
        self.app_access_program.write_text(
            _APP_ACCESS.format(python=_system_python(), url=self.mailbox_access_url),
            encoding="utf-8",
        )
        self.app_access_program.chmod(0o755)
        oauth_passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.oauth2_config_file}\n}}\n"
            "passdb {\n  driver = checkpassword\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.app_access_program}\n}}\n"
        )
        return base.replace(
            _MECHANISMS, "auth_mechanisms = plain login xoauth2 oauthbearer\nauth_cache_size = 0\n"
        ).replace(
            _PASSWD_FILE_PASSDB,
            oauth_passdb + _PASSWD_FILE_PASSDB + "  mechanisms = plain login\n",
        )
