"""The test Dovecot with XOAUTH2 and OAUTHBEARER sign-in checked by a local introspection URL.

:class:`OAuthDovecotServer` is the plain :class:`~tests.servers.dovecot.DovecotServer` plus an
``oauth2`` password database (Dovecot 2.3 syntax) that validates bearer tokens by ``POST``-ing
them to an introspection endpoint, normally :class:`~tests.servers.oauth.OAuthTestServer`'s.
Passwords still work for PLAIN and LOGIN, so seeding mail is unchanged; a password is never
accepted as a bearer token, nor a token as a password. The auth cache stays off (Dovecot's
default), so every login asks the introspection endpoint again and an expired token is refused
at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.servers.dovecot import DovecotError, DovecotServer

_MECHANISMS = "auth_mechanisms = plain login\n"
_PASSWD_FILE_PASSDB = "passdb {\n  driver = passwd-file\n"


class OAuthDovecotServer(DovecotServer):
    """Dovecot accepting XOAUTH2/OAUTHBEARER tokens that ``introspection_url`` calls active."""

    def __init__(self, introspection_url: str, workdir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.introspection_url = introspection_url
        self.oauth2_config_file = self.workdir / "dovecot-oauth2.conf.ext"

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
        oauth_passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.oauth2_config_file}\n}}\n"
        )
        return base.replace(
            _MECHANISMS, "auth_mechanisms = plain login xoauth2 oauthbearer\nauth_cache_size = 0\n"
        ).replace(
            _PASSWD_FILE_PASSDB,
            oauth_passdb + _PASSWD_FILE_PASSDB + "  mechanisms = plain login\n",
        )
