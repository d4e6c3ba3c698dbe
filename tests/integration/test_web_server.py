"""The dashboard served by a real uvicorn on a free port, driven over HTTP with httpx, on the
``database_url`` database (SQLite, or PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from acchub_mailbot.app import accounts, clients, tokens
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store import owners
from acchub_mailbot.web.security import HEADERS
from acchub_mailbot.web.serve import BackgroundWeb
from tests.servers.dovecot import free_port

ADMIN = ("dana@firm.example", "admin passphrase 1")
ALEX = ("alex@firm.example", "alex passphrase 22")
SAM = ("sam@firm.example", "sam passphrase 333")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


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


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    app = App.open(parse_settings({"database": {"url": database_url}}, environ={}))
    for (email, password), role in ((ADMIN, "admin"), (ALEX, "accountant"), (SAM, "accountant")):
        accounts.add_user(app, email, role, password)
    ids = {}
    for name, tenant, owner in (
        ("Contoso", "contoso.onmicrosoft.com", ALEX[0]),
        (HOSTILE, "fabrikam.com", SAM[0]),
    ):
        card = clients.add_client(
            app, url=f"https://businesscentral.dynamics.com/{tenant}", fields={"name": name}
        )
        with app.sessions.begin() as session:
            owners.add_owner(session, card["id"], owner)
        ids[owner] = card["id"]
    port = free_port()
    web = BackgroundWeb(app, "127.0.0.1", port)
    assert web.start(), "uvicorn did not start"
    made = Site(app, f"http://127.0.0.1:{port}", ids)
    yield made
    for opened in made.opened:
        opened.close()
    web.stop()
    app.close()


def browser(site: Site) -> httpx.Client:
    return site.client()


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(site: Site, who: tuple[str, str]) -> httpx.Client:
    client = browser(site)
    form = client.get("/login")
    reply = client.post(
        "/login", data={"csrf": csrf_of(form.text), "email": who[0], "password": who[1]}
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/clients"
    return client


def test_without_a_session_pages_redirect_to_sign_in_and_the_api_answers_401(site: Site) -> None:
    client = browser(site)
    for path in ("/", "/clients"):
        reply = client.get(path)
        assert reply.status_code == 303
    assert client.get("/clients").headers["location"] == "/login"
    for path in ("/api/clients", f"/api/clients/{site.ids[ALEX[0]]}"):
        reply = client.get(path)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_every_response_carries_the_security_headers(site: Site) -> None:
    client = sign_in(site, ADMIN)
    for path in ("/login", "/clients", "/healthz", "/api/clients", "/static/app.css", "/nope"):
        reply = client.get(path)
        for name, value in HEADERS.items():
            assert reply.headers.get(name.decode()) == value.decode(), (path, name)
        assert "strict-transport-security" not in reply.headers  # plain HTTP on loopback
    policy = client.get("/clients").headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy


def test_sign_in_needs_the_form_token_and_the_right_password(site: Site) -> None:
    client = browser(site)
    page = client.get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    token = csrf_of(page.text)
    forged = browser(site).post("/login", data={"csrf": token, "email": ADMIN[0],
                                                "password": ADMIN[1]})  # fmt: skip
    assert forged.status_code == 403  # the token without its cookie: another site's form
    wrong = client.post("/login", data={"csrf": token, "email": ADMIN[0], "password": "nope"})
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    assert client.get("/clients").status_code == 303
    right = client.post("/login", data={"csrf": token, "email": ADMIN[0], "password": ADMIN[1]})
    assert right.status_code == 303
    session_cookie = right.headers["set-cookie"].lower()
    assert session_cookie.startswith("acchub_session=")
    assert "httponly" in session_cookie and "samesite=lax" in session_cookie
    assert client.get("/clients").status_code == 200


def test_each_accountant_sees_only_their_clients_and_an_admin_sees_all(site: Site) -> None:
    alex, sam, admin = sign_in(site, ALEX), sign_in(site, SAM), sign_in(site, ADMIN)
    assert [c["name"] for c in alex.get("/api/clients").json()] == ["Contoso"]
    assert [c["id"] for c in sam.get("/api/clients").json()] == [site.ids[SAM[0]]]
    assert len(admin.get("/api/clients").json()) == 2
    assert alex.get(f"/api/clients/{site.ids[SAM[0]]}").status_code == 404
    assert alex.get(f"/api/clients/{site.ids[ALEX[0]]}").json()["name"] == "Contoso"
    assert admin.get(f"/api/clients/{site.ids[SAM[0]]}").status_code == 200
    assert alex.get("/api/clients", params={"owner": SAM[0]}).json() == []
    page = alex.get("/clients").text
    assert "Contoso" in page and "fabrikam" not in page
    assert alex.get("/api/clients", params={"status": "bogus"}).status_code == 400


def test_a_hostile_company_name_is_escaped_in_the_page(site: Site) -> None:
    page = sign_in(site, SAM).get("/clients").text
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_sign_out_needs_the_session_token_and_ends_the_session_everywhere(site: Site) -> None:
    client = sign_in(site, ALEX)
    page = client.get("/clients").text
    stolen = dict(client.cookies)
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf": "guess"}).status_code == 403
    assert client.get("/clients").status_code == 200  # still signed in
    out = client.post("/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = site.client(cookies=stolen)
    assert replay.get("/clients").status_code == 303
    assert replay.get("/api/clients").status_code == 401


def test_disabling_an_account_ends_its_sessions_and_tokens_at_once(site: Site) -> None:
    client = sign_in(site, ALEX)
    _info, secret = tokens.create_token(site.app, ALEX[0], read_only=True)
    bearer = {"Authorization": f"Bearer {secret}"}
    api = site.client()
    assert [c["name"] for c in api.get("/api/clients", headers=bearer).json()] == ["Contoso"]
    accounts.set_disabled(site.app, ALEX[0], True)
    assert client.get("/clients").status_code == 303
    assert api.get("/api/clients", headers=bearer).status_code == 401
    assert api.get("/api/clients", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_the_sign_in_limit_answers_429_with_retry_after(site: Site) -> None:
    client = browser(site)
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"csrf": token, "email": ALEX[0], "password": "no"})
        assert wrong.status_code == 401
    limited = client.post("/login", data={"csrf": token, "email": ALEX[0], "password": ALEX[1]})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 901
    assert "Too many wrong sign-ins" in limited.text
    assert client.get("/clients").status_code == 303
