"""Single sign-on with OpenID Connect against a local provider over HTTPS (the firm's Entra ID
stand-in), through the dashboard served by uvicorn, with an HTTP client that follows the
redirects as a browser does and keeps each site's cookies.

A person with an account signs in and sees their own clients; everyone and everything else is
refused and audited: an email with no account or a disabled one, an answer brought back by
another browser or twice, and each way the provider's ID token can be wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from sqlalchemy import select

from acchub_mailbot.app import accounts
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store.models import AuditEntry, WebSession
from tests.servers.dovecot import free_port
from tests.webclient import SSO_ALEX as ALEX
from tests.webclient import SsoSite, open_sso_site, serving


@pytest.fixture
def sso(database_url: str, tmp_path: Path, https_ca: trustme.CA) -> Iterator[SsoSite]:
    with open_sso_site(database_url, tmp_path, https_ca) as made:
        yield made


def go_through_the_provider(browser: httpx.Client) -> httpx.Response:
    """Click "Sign in with ...", sign in at the provider, and come back: the callback's reply."""
    start = browser.get("/login/oidc")
    assert start.status_code == 303, start.text
    at_provider = browser.get(start.headers["location"])
    assert at_provider.status_code == 302
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{str(browser.base_url).rstrip('/')}/login/oidc/callback?")
    return browser.get(callback)


def audit_rows(app: App) -> list[tuple[str, str, dict[str, object]]]:
    with app.sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        ).all()
    return [(actor, action, detail) for actor, action, detail in rows]


def sessions(app: App) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(WebSession)).all())


def test_a_person_with_an_account_signs_in_through_the_provider(sso: SsoSite) -> None:
    browser = sso.browser()
    login = browser.get("/login")
    assert "Sign in with Firm Entra ID" in login.text and 'href="/login/oidc"' in login.text
    sso.provider.sign_in_as("Alex@Firm.Example")
    done = go_through_the_provider(browser)
    assert done.status_code == 303 and done.headers["location"] == "/clients"
    page = browser.get("/clients")
    assert page.status_code == 200 and "Contoso" in page.text and ALEX in page.text
    (request,) = sso.provider.token_requests
    assert request["code_verifier"] and request["redirect_uri"].endswith("/login/oidc/callback")
    assert audit_rows(sso.app)[-1] == (ALEX, "sign_in", {"method": "oidc"})
    assert "acchub_oidc_flow" not in browser.cookies  # one answer per flow


def test_an_answer_is_good_once_and_only_in_the_browser_that_asked(sso: SsoSite) -> None:
    sso.provider.sign_in_as(ALEX)
    browser = sso.browser()
    start = browser.get("/login/oidc")
    callback = browser.get(start.headers["location"]).headers["location"]
    stranger = sso.browser()  # the same answer, brought by another browser
    refused = stranger.get(callback)
    assert refused.status_code == 401 and "not started in this browser" in refused.text
    assert browser.get(callback).status_code == 303  # the right browser, once
    again = browser.get(callback)
    assert again.status_code == 401
    assert sessions(sso.app) == 1


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ("audience", "does not hold"),
        ("issuer", "does not hold"),
        ("expired", "does not hold"),
        ("foreign_key", "does not hold"),
        ("none", "not accepted"),
        ("nonce", "no verified email"),
        ("unverified_email", "no verified email"),
        ("refuse", "did not sign you in (access_denied)"),
    ],
)
def test_every_wrong_answer_from_the_provider_is_refused(
    sso: SsoSite, tamper: str, why: str
) -> None:
    sso.provider.sign_in_as(ALEX)
    sso.provider.tamper = tamper
    browser = sso.browser()
    reply = go_through_the_provider(browser)
    assert reply.status_code == 401 and why in reply.text, reply.text[-600:]
    assert browser.get("/clients").status_code == 303  # not signed in
    assert sessions(sso.app) == 0
    _actor, action, detail = audit_rows(sso.app)[-1]
    assert action == "sign_in_failed" and detail["method"] == "oidc" and why in str(detail)


@pytest.mark.parametrize("email", ["nobody@firm.example", "gone@firm.example"])
def test_single_sign_on_never_creates_or_revives_an_account(sso: SsoSite, email: str) -> None:
    sso.provider.sign_in_as(email)
    reply = go_through_the_provider(sso.browser())
    assert reply.status_code == 401 and "has no account here, or it is disabled" in reply.text
    assert sessions(sso.app) == 0
    assert audit_rows(sso.app)[-1][:2] == (email, "sign_in_failed")
    assert [a.email for a in accounts.list_users(sso.app)] == sorted([ALEX, "gone@firm.example"])


def test_without_web_oidc_the_routes_do_not_exist(database_url: str) -> None:
    app = App.open(parse_settings({"database": {"url": database_url}}, environ={}))
    with serving(app, free_port()) as base, httpx.Client(base_url=base) as browser:
        assert "/login/oidc" not in browser.get("/login").text
        assert browser.get("/login/oidc").status_code == 404
        assert browser.get("/login/oidc/callback?code=x&state=y").status_code == 404
