"""The dashboard over HTTP for tests: a real uvicorn on a free port, three accounts (an admin
and two accountants), a client owned by each accountant (one with a hostile name), and one
mailbox in the config, driven with httpx clients that each keep their own cookies; and the
dashboard with single sign-on through the local OpenID Connect provider."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trustme

from acchub_mailbot.app import accounts, clients
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store import owners
from acchub_mailbot.web.serve import BackgroundWeb
from tests.servers.dovecot import free_port
from tests.servers.oidc import CLIENT_ID, CLIENT_SECRET, OidcProvider

ADMIN = ("dana@firm.example", "admin passphrase 1")
ALEX = ("alex@firm.example", "alex passphrase 22")
SAM = ("sam@firm.example", "sam passphrase 333")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
MAILBOX = "invites"


@dataclass
class Site:
    app: App
    base: str
    ids: dict[str, int]
    opened: list[httpx.Client] = field(default_factory=list)

    def client(self, **options: Any) -> httpx.Client:
        """A client of its own (its own cookies), closed after the test."""
        made = httpx.Client(base_url=self.base, follow_redirects=False, **options)
        self.opened.append(made)
        return made


@contextlib.contextmanager
def open_site(database_url: str) -> Iterator[Site]:
    config = {
        "database": {"url": database_url},
        "mailboxes": [
            {
                "name": MAILBOX,
                "imap": {"host": "127.0.0.1", "port": 1, "username": "invites",
                         "password_env": "ACCHUB_TEST_UNUSED"},
                "digest_to": [ADMIN[0]],
            }
        ],
    }  # fmt: skip
    app = App.open(parse_settings(config, environ={"ACCHUB_TEST_UNUSED": "x"}))
    for (email, password), role in ((ADMIN, "admin"), (ALEX, "accountant"), (SAM, "accountant")):
        accounts.add_user(app, email, role, password)
    ids = {
        ALEX[0]: add_owned_client(app, "Contoso", "contoso.onmicrosoft.com", ALEX[0]),
        SAM[0]: add_owned_client(app, HOSTILE, "fabrikam.com", SAM[0]),
    }
    opened: list[httpx.Client] = []
    with serving(app, free_port(), opened) as base:
        yield Site(app, base, ids, opened)


@contextlib.contextmanager
def serving(app: App, port: int, opened: list[httpx.Client] | None = None) -> Iterator[str]:
    """``app``'s dashboard on ``port`` as ``run`` serves it, for a with-block that gets its base
    URL; then the clients in ``opened``, the server and the app are closed."""
    web = BackgroundWeb(app, "127.0.0.1", port)
    try:
        assert web.start(), "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        for client in opened or []:
            client.close()
        web.stop()
        app.close()


def add_owned_client(
    app: App, name: str, tenant: str, owner: str, access_link: str | None = None
) -> int:
    """A client registered for ``tenant`` and owned by ``owner`` (as a forward makes it)."""
    card = clients.add_client(
        app, url=f"https://businesscentral.dynamics.com/{tenant}",
        fields={"name": name, "access_link": access_link},
    )  # fmt: skip
    with app.sessions.begin() as session:
        owners.add_owner(session, card["id"], owner)
    return int(card["id"])


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(site: Site, who: tuple[str, str]) -> httpx.Client:
    client = site.client()
    form = client.get("/login")
    reply = client.post(
        "/login", data={"csrf": csrf_of(form.text), "email": who[0], "password": who[1]}
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/clients"
    return client


SSO_ALEX = "alex@firm.example"
SSO_SECRET_ENV = "ACCHUB_TEST_OIDC_SECRET"


@dataclass
class SsoSite:
    app: App
    base: str
    provider: OidcProvider
    opened: list[httpx.Client] = field(default_factory=list)

    def browser(self) -> httpx.Client:
        """One browser: its own cookies for both sites; trusts the provider's CA."""
        trust = ssl.create_default_context(cafile=str(self.provider.ca_file))
        made = httpx.Client(base_url=self.base, follow_redirects=False, verify=trust)
        self.opened.append(made)
        return made


@contextlib.contextmanager
def open_sso_site(database_url: str, folder: Path, ca: trustme.CA) -> Iterator[SsoSite]:
    """The dashboard with ``web.oidc`` pointing at a local provider; SSO_ALEX has an account
    and a client, gone@firm.example a disabled account."""
    with OidcProvider(ca, folder) as provider:
        port = free_port()
        config = {
            "database": {"url": database_url},
            "web": {
                "base_url": f"http://127.0.0.1:{port}",
                "oidc": {
                    "issuer": provider.issuer, "client_id": CLIENT_ID,
                    "client_secret_env": SSO_SECRET_ENV, "ca_file": str(provider.ca_file),
                    "label": "Firm Entra ID",
                },
            },
        }  # fmt: skip
        app = App.open(parse_settings(config, environ={SSO_SECRET_ENV: CLIENT_SECRET}))
        accounts.add_user(app, SSO_ALEX, "accountant", "alex passphrase 22")
        accounts.add_user(app, "gone@firm.example", "accountant", "gone passphrase 22")
        accounts.set_disabled(app, "gone@firm.example", True)
        add_owned_client(app, "Contoso", "contoso.onmicrosoft.com", SSO_ALEX)
        opened: list[httpx.Client] = []
        with serving(app, port, opened) as base:
            yield SsoSite(app, base, provider, opened)
