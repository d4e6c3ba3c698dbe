"""Every route of the dashboard walked as the wrong person: without a session, as the other
accountant, as an accountant on an admin's page, and every form without its CSRF token. Each
refusal is checked where it shows (the status, and the database left exactly as it was), and
each form is then sent rightly once, so the refusal is known to come from the check under test.

The walk is complete by construction: a route the app serves that is missing from ``ROUTES``
fails ``test_the_walk_covers_every_route``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from acchub_mailbot.app import tokens
from acchub_mailbot.store import registry
from acchub_mailbot.store.models import (
    ApiToken,
    AuditEntry,
    Client,
    ClientHistory,
    ClientOwner,
    PollRequest,
    ProcessedMessage,
    WebSession,
)
from acchub_mailbot.web.security import HEADERS
from acchub_mailbot.web.server import create_web
from tests.webclient import ADMIN, ALEX, MAILBOX, SAM, Site, csrf_of, open_site, sign_in


@dataclass
class Walk:
    site: Site
    ids: dict[str, int]  # the objects of ALEX the walk touches


@pytest.fixture
def walk(database_url: str) -> Iterator[Walk]:
    with open_site(database_url) as site:
        app = site.app
        ids = {"client": site.ids[ALEX[0]]}
        with app.sessions.begin() as session:
            held = registry.find_client(session, ids["client"])
            registry.set_status(session, held, "needs_review", actor="test", reason="tenant?")
            message = ProcessedMessage(
                mailbox=MAILBOX, folder="INBOX", uidvalidity=1, uid=1, subject="Invitation",
                sender=ALEX[0], state="done", verdict="needs_review",
                reasons={"reasons": ["looks odd"]},
            )  # fmt: skip
            failed = ProcessedMessage(
                mailbox=MAILBOX, folder="INBOX", uidvalidity=1, uid=2, subject="Broken",
                sender=ALEX[0], state="quarantined", last_error="boom",
            )  # fmt: skip
            session.add_all([message, failed])
            session.flush()
            ids["message"], ids["failed"] = message.id, failed.id
        info, _secret = tokens.create_token(app, ALEX[0], read_only=True)
        ids["token"] = info.id
        yield Walk(site, ids)


@dataclass(frozen=True)
class RouteCase:
    method: str
    template: str  # as the app names the route
    path: str  # with ALEX's objects filled in; {client} {message} {failed} {token} {session}
    who: str  # "public", "signed" (anyone signed in), "owner" (ALEX's object), "admin"
    data: dict[str, str] | None = None
    api: bool = False


C = "/clients/{client_id:int}"
ROUTES = [
    RouteCase("GET", "/healthz", "/healthz", "public"),
    RouteCase("GET", "/", "/", "public"),
    RouteCase("GET", "/login", "/login", "public"),
    RouteCase("POST", "/login", "/login", "public"),
    RouteCase("GET", "/login/oidc", "/login/oidc", "public"),
    RouteCase("GET", "/login/oidc/callback", "/login/oidc/callback", "public"),
    RouteCase("POST", "/logout", "/logout", "signed", {}),
    RouteCase("GET", "/clients", "/clients", "signed"),
    RouteCase("GET", "/clients/export.csv", "/clients/export.csv", "signed"),
    RouteCase("POST", "/clients/bulk", "/clients/bulk", "owner",
              {"action": "archive", "ids": "{client}"}),
    RouteCase("GET", "/clients/new", "/clients/new", "signed"),
    RouteCase("POST", "/clients/new", "/clients/new", "signed",
              {"client_url": "https://businesscentral.dynamics.com/walk.onmicrosoft.com"}),
    RouteCase("GET", C, "/clients/{client}", "owner"),
    RouteCase("POST", C + "/{action:str}", "/clients/{client}/edit", "owner", {"name": "Edited"}),
    RouteCase("POST", C + "/{action:str}", "/clients/{client}/reveal", "owner",
              {"field": "access_link"}),
    RouteCase("POST", C + "/{action:str}", "/clients/{client}/accept", "owner", {}),
    RouteCase("POST", C + "/{action:str}", "/clients/{client}/archive", "owner", {}),
    RouteCase("POST", C + "/{action:str}", "/clients/{client}/test", "owner", {}),
    RouteCase("GET", "/attention", "/attention", "signed"),
    RouteCase("POST", "/attention/{kind:str}/{ident:int}/{action:str}",
              "/attention/client/{client}/dismiss", "owner", {"comment": "fine"}),
    RouteCase("POST", "/attention/{kind:str}/{ident:int}/{action:str}",
              "/attention/message/{message}/dismiss", "owner", {"comment": "fine"}),
    RouteCase("POST", "/attention/{kind:str}/{ident:int}/{action:str}",
              "/attention/message/{failed}/retry", "owner", {}),
    RouteCase("GET", "/audit", "/audit", "admin"),
    RouteCase("GET", "/mailboxes", "/mailboxes", "admin"),
    RouteCase("POST", "/mailboxes/{name:str}/poll", f"/mailboxes/{MAILBOX}/poll", "admin", {}),
    RouteCase("GET", "/account", "/account", "signed"),
    RouteCase("POST", "/account/tokens", "/account/tokens", "signed", {"read_only": "1"}),
    RouteCase("POST", "/account/tokens/{ident:int}/revoke", "/account/tokens/{token}/revoke",
              "owner", {}),
    RouteCase("POST", "/account/sessions/{ident:int}/end", "/account/sessions/{session}/end",
              "owner", {}),
    RouteCase("GET", "/digest", "/digest", "signed"),
    RouteCase("GET", "/digest/preview.html", "/digest/preview.html", "signed"),
    RouteCase("GET", "/api/clients", "/api/clients", "signed", api=True),
    RouteCase("GET", "/api/clients/{client_id:int}", "/api/clients/{client}", "owner", api=True),
    RouteCase("POST", "/api/clients/{client_id:int}/reveal", "/api/clients/{client}/reveal",
              "owner", api=True),
]  # fmt: skip
FORMS = [r for r in ROUTES if r.method == "POST" and not r.api and r.who != "public"]


def fill(walk: Walk, text: str, session_id: int = 0) -> str:
    return text.format(**walk.ids, session=session_id)


def state_of(site: Site) -> list[object]:
    """What a refused request must leave as it was: every row it could have changed."""
    with site.app.sessions() as session:
        rows: list[object] = []
        for model in (Client, ClientHistory, ClientOwner, AuditEntry, PollRequest):
            rows += [
                tuple(getattr(r, c.key) for c in model.__table__.columns)
                for r in session.scalars(select(model).order_by(*model.__table__.primary_key))
            ]
        rows += session.execute(
            select(ProcessedMessage.id, ProcessedMessage.state, ProcessedMessage.reasons)
        ).all()
        rows += session.execute(select(WebSession.id, WebSession.ended_at)).all()
        rows += session.execute(select(ApiToken.id, ApiToken.revoked_at)).all()
        return rows


def alex_session_id(site: Site) -> int:
    """A session of ALEX other than the walking client's, for the "end a session" route."""
    client = sign_in(site, ALEX)
    assert client.get("/account").status_code == 200
    with site.app.sessions() as session:
        return max(session.scalars(select(WebSession.id)).all())


def send(
    client: httpx.Client, walk: Walk, case: RouteCase, path: str, csrf: str | None
) -> httpx.Response:
    """One request of the walk; whatever it answers carries the security headers."""
    if case.method == "GET":
        reply = client.get(path)
    elif case.api:
        reply = client.post(path, headers={"X-CSRF-Token": csrf} if csrf else {})
    else:
        data = {k: fill(walk, v) for k, v in (case.data or {}).items()}
        if csrf is not None:
            data["csrf"] = csrf
        reply = client.post(path, data=data)
    for name, value in HEADERS.items():
        if name.decode() not in ("content-security-policy", "x-frame-options"):
            assert reply.headers.get(name.decode()) == value.decode(), (path, name)
    policy = reply.headers["content-security-policy"]
    assert "frame-ancestors" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    return reply


def test_the_walk_covers_every_route(walk: Walk) -> None:
    served = {
        (method, route.path)
        for route in create_web(walk.site.app).routes
        for method in (getattr(route, "methods", None) or ())
        if method != "HEAD"
    }
    walked = {(case.method, case.template) for case in ROUTES}
    assert served == walked


def test_without_a_session_nothing_is_shown_or_done(walk: Walk) -> None:
    site = walk.site
    anonymous = site.client()
    before = state_of(site)
    for case in ROUTES:
        if case.who == "public":
            continue
        path = fill(walk, case.path, alex_session_id(site) if "{session}" in case.path else 0)
        before = state_of(site)
        reply = send(anonymous, walk, case, path, csrf="guess")
        if case.api:
            assert reply.status_code == 401, path
        elif case.method == "GET":
            assert (reply.status_code, reply.headers.get("location")) == (303, "/login"), path
        else:
            assert reply.status_code == 403, path
        assert state_of(site) == before, path


def test_the_other_accountant_finds_nothing_of_alexs(walk: Walk) -> None:
    site = walk.site
    sam = sign_in(site, SAM)
    csrf = csrf_of(sam.get("/clients").text)
    for case in ROUTES:
        if case.who != "owner":
            continue
        path = fill(walk, case.path, alex_session_id(site) if "{session}" in case.path else 0)
        before = state_of(site)
        reply = send(sam, walk, case, path, csrf)
        if path == "/clients/bulk":  # a list of ids: another's are skipped, none is done
            assert reply.status_code == 303 and reply.headers["location"].endswith("done=0")
        else:
            assert reply.status_code == 404, path
        assert state_of(site) == before, path
        if not case.api:
            assert "Contoso" not in reply.text and "alex@" not in reply.text, path


def test_an_accountant_gets_no_admin_page(walk: Walk) -> None:
    site = walk.site
    alex = sign_in(site, ALEX)
    csrf = csrf_of(alex.get("/clients").text)
    for case in ROUTES:
        if case.who != "admin":
            continue
        before = state_of(site)
        reply = send(alex, walk, case, case.path, csrf)
        assert reply.status_code == 404, case.path
        assert state_of(site) == before, case.path
    nav = alex.get("/clients").text
    assert 'href="/audit"' not in nav and 'href="/mailboxes"' not in nav
    admin = sign_in(site, ADMIN)
    assert all(admin.get(c.path).status_code == 200 for c in ROUTES if c.who == "admin" and
               c.method == "GET")  # fmt: skip


def test_every_form_is_refused_without_its_csrf_token_and_done_with_it(walk: Walk) -> None:
    site = walk.site
    for case in FORMS:
        who = ADMIN if case.who == "admin" else ALEX
        client = sign_in(site, who)
        csrf = csrf_of(client.get("/clients").text)
        path = fill(walk, case.path, alex_session_id(site) if "{session}" in case.path else 0)
        before = state_of(site)
        for forged in (None, "", "not-the-token", csrf[:-1]):
            reply = send(client, walk, case, path, forged)
            assert reply.status_code == 403, (path, forged)
            assert state_of(site) == before, (path, forged)
        done = send(client, walk, case, path, csrf)
        assert done.status_code in (200, 303), (path, done.status_code, done.text[:300])
        if not path.endswith("/test"):  # a URL test changes a row only when it can reach it
            assert state_of(site) != before, path


def test_the_api_reveal_needs_the_session_token_or_a_full_token(walk: Walk) -> None:
    site = walk.site
    alex = sign_in(site, ALEX)
    csrf = csrf_of(alex.get("/clients").text)
    path = fill(walk, "/api/clients/{client}/reveal")
    _info, read_only = tokens.create_token(site.app, ALEX[0], read_only=True)
    tool = site.client(headers={"Authorization": f"Bearer {read_only}"})
    before = state_of(site)
    assert alex.post(path).status_code == 403
    assert alex.post(path, headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert tool.get(fill(walk, "/api/clients/{client}")).status_code == 200
    assert tool.post(path).status_code == 403  # a read-only token never gets a link
    assert state_of(site) == before
    assert alex.post(path, headers={"X-CSRF-Token": csrf}).status_code == 200
    _info, full = tokens.create_token(site.app, ALEX[0], read_only=False)
    assert site.client(headers={"Authorization": f"Bearer {full}"}).post(path).status_code == 200
    with site.app.sessions() as session:
        reveals = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "link_revealed")
        ).all()
    assert reveals == [ALEX[0], ALEX[0]]
