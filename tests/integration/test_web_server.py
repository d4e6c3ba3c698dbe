"""The dashboard served by a real uvicorn on a free port, driven over HTTP with httpx, on the
``database_url`` database (SQLite, or PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from acchub_mailbot.app import accounts, tokens
from acchub_mailbot.store.events import add_event, unassigned_events
from acchub_mailbot.web.security import HEADERS
from tests.webclient import (
    ADMIN,
    ALEX,
    HOSTILE,
    MAILBOX,
    SAM,
    Site,
    csrf_of,
    open_site,
    sign_in,
)


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    with open_site(database_url) as made:
        yield made


def browser(site: Site) -> httpx.Client:
    return site.client()


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


def test_a_token_made_on_the_account_page_is_shown_once_and_acts_as_its_owner(site: Site) -> None:
    alex = sign_in(site, ALEX)
    page = alex.get("/account")
    assert page.status_code == 200 and "this one" in page.text  # the current session
    made = alex.post("/account/tokens", data={"csrf": csrf_of(page.text)})  # not read-only
    assert made.status_code == 200
    secret = made.text.split('class="token-secret">')[1].split("<")[0]
    assert secret.startswith(tokens.PREFIX) and secret not in alex.get("/account").text
    tool = site.client(headers={"Authorization": f"Bearer {secret}"})
    assert [c["name"] for c in tool.get("/api/clients").json()] == ["Contoso"]
    assert tool.post(f"/api/clients/{site.ids[ALEX[0]]}/reveal").status_code == 200
    (listed,) = tokens.list_tokens(site.app, ALEX[0])
    revoked = alex.post(f"/account/tokens/{listed.id}/revoke", data={"csrf": csrf_of(page.text)})
    assert revoked.status_code == 303
    assert tool.get("/api/clients").status_code == 401


def test_ending_another_session_signs_that_browser_out(site: Site) -> None:
    laptop, phone = sign_in(site, ALEX), sign_in(site, ALEX)
    page = laptop.get("/account").text
    assert page.count("data-session-id=") == 2
    other = [
        s for s in page.split('data-session-id="')[1:] if "this one" not in s.split("</tr>")[0]
    ]
    (phone_id,) = [int(s.split('"')[0]) for s in other]
    ended = laptop.post(f"/account/sessions/{phone_id}/end", data={"csrf": csrf_of(page)})
    assert ended.status_code == 303
    assert phone.get("/clients").status_code == 303 and laptop.get("/clients").status_code == 200


def test_the_digest_preview_is_each_persons_own_with_links_masked(site: Site) -> None:
    link = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signupcode=SECRET9"
    with site.app.sessions.begin() as session:
        for audience, name in (("", "Firmwide Ltd"), (f"owner:{ALEX[0]}", "Alex Own Ltd")):
            add_event(session, MAILBOX, "registered", {
                "client_name": name, "access_link": link,
                "client_url": "https://businesscentral.dynamics.com/contoso.onmicrosoft.com",
            }, audience=audience)  # fmt: skip
    admin, alex = sign_in(site, ADMIN), sign_in(site, ALEX)
    assert "Firmwide Ltd" in admin.get("/digest").text
    framed = admin.get("/digest/preview.html", params={"mailbox": MAILBOX})
    assert "Firmwide Ltd" in framed.text and "Alex Own Ltd" not in framed.text
    assert "SECRET9" not in framed.text and "businesscentral.dynamics.com/•••••" in framed.text
    policy = framed.headers["content-security-policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert framed.headers["x-frame-options"] == "SAMEORIGIN"
    own = alex.get("/digest/preview.html").text
    assert "Alex Own Ltd" in own and "Firmwide Ltd" not in own and "SECRET9" not in own
    assert alex.get("/digest", params={"mailbox": "nope"}).status_code == 404
    with site.app.sessions() as session:  # looking used nothing up
        assert len(unassigned_events(session, MAILBOX)) == 2


def test_the_mailboxes_page_asks_for_a_poll_once(site: Site) -> None:
    admin = sign_in(site, ADMIN)
    page = admin.get("/mailboxes")
    assert f'data-mailbox="{MAILBOX}"' in page.text and "never" in page.text
    asked = admin.post(f"/mailboxes/{MAILBOX}/poll", data={"csrf": csrf_of(page.text)})
    assert asked.status_code == 303
    again = admin.get(asked.headers["location"]).text
    assert "poll requested" in again and "Poll now</button>" not in again
    assert admin.post("/mailboxes/nope/poll", data={"csrf": csrf_of(page.text)}).status_code == 404


def test_pages_follow_the_browsers_language(site: Site) -> None:
    french = site.client(headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    login = french.get("/login")
    assert login.headers["content-language"] == "fr" and 'lang="fr"' in login.text
    assert "Mot de passe" in login.text and "Password" not in login.text
    wrong = french.post("/login", data={"csrf": csrf_of(login.text), "email": ALEX[0],
                                        "password": "nope"})  # fmt: skip
    assert "E-mail ou mot de passe incorrect." in wrong.text
    right = french.post("/login", data={"csrf": csrf_of(login.text), "email": ALEX[0],
                                        "password": ALEX[1]})  # fmt: skip
    assert right.status_code == 303
    page = french.get("/clients").text
    assert "Exporter en CSV" in page and "Se déconnecter" in page
    assert '<span class="status status-pending_verification">vérification en attente' in page
    assert french.get("/clients/999999").status_code == 404
    assert "ne vous est pas accessible" in french.get("/clients/999999").text
    api = french.get("/api/clients").json()
    assert api[0]["status"] == "pending_verification"  # stored values stay as they are
    english = sign_in(site, ALEX)
    assert english.get("/clients").headers["content-language"] == "en"
    german = site.client(headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert german.get("/login").headers["content-language"] == "en"  # no German catalog
