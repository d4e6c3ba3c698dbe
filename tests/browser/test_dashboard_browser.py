"""The dashboard in a real browser: Debian's Chromium driven by Playwright (nothing downloaded),
against the dashboard served by uvicorn on loopback, over the test's database.

One accountant's working session end to end (sign in, find a client, edit it, reveal its access
link, test its URL against a local HTTPS server, register a held item, export CSV, sign out),
the hostile company name inert in the parsed page, another accountant kept out, the admin's
audit log, the pages in French, single sign-on through a local OpenID Connect provider, and
screenshots of the main pages at desktop and phone width. Screenshots go to
``$ACCHUB_TEST_ARTIFACTS/screenshots`` (default ``build/test-artifacts/screenshots``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from acchub_mailbot.app import accounts
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store import registry
from acchub_mailbot.store.models import AuditEntry, ProcessedMessage, WebSession
from acchub_mailbot.verify.urlcheck import LiveChecker
from tests.servers.dovecot import free_port
from tests.servers.https import World, ok
from tests.webclient import SSO_ALEX, add_owned_client, open_sso_site, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ADMIN = ("dana@firm.example", "admin passphrase 1")
ALEX = ("alex@firm.example", "alex passphrase 22")
SAM = ("sam@firm.example", "sam passphrase 333")
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
ACCESS_LINK = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signupcode=SECRET42"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def artifacts() -> Path:
    root = Path(os.environ.get("ACCHUB_TEST_ARTIFACTS", "build/test-artifacts"))
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Site:
    app: App
    base: str
    ids: dict[str, int]


@pytest.fixture
def site(database_url: str, world: World) -> Iterator[Site]:
    mailbox = {
        "name": "invites",
        "digest_to": [ADMIN[0]],
        "imap": {"host": "127.0.0.1", "port": 1, "username": "invites", "password_env": "UNUSED"},
    }
    app = App.open(
        parse_settings(
            {"database": {"url": database_url}, "mailboxes": [mailbox]}, environ={"UNUSED": "x"}
        )
    )  # fmt: skip
    tenant_page = world.server(ok)
    app._checker = LiveChecker(world.settings(tenant_page.port), resolver=world.resolver)
    for (email, password), role in ((ADMIN, "admin"), (ALEX, "accountant"), (SAM, "accountant")):
        accounts.add_user(app, email, role, password)
    ids: dict[str, int] = {}
    for key, name, tenant, owner, link in (
        ("contoso", "Contoso Ltd", "contoso.onmicrosoft.com", ALEX[0], ACCESS_LINK),
        ("hostile", HOSTILE, "fabrikam.com", ALEX[0], None),
        ("held", "Northwind Traders", "northwind.com", ALEX[0], None),
        ("sams", "Tailspin Toys", "tailspin.com", SAM[0], None),
    ):
        ids[key] = add_owned_client(app, name, tenant, owner, link)
    with app.sessions.begin() as session:
        held = registry.find_client(session, ids["held"])
        registry.set_status(session, held, "needs_review", actor="test", reason="tenant not found")
    with serving(app, free_port()) as base:
        yield Site(app, base, ids)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=site.base, viewport=DESKTOP, accept_downloads=True)
    yield made
    made.close()


def sign_in(page: Page, who: tuple[str, str]) -> None:
    page.goto("/clients")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()


def audit_count(site: Site, action: str) -> int:
    with site.app.sessions() as session:
        return session.query(AuditEntry).filter(AuditEntry.action == action).count()


def test_an_accountant_works_through_the_hub_in_the_browser(
    context: BrowserContext, site: Site
) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, ALEX)

    # Only Alex's clients, the hostile name as text and nothing of it run or parsed as markup.
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_text("Tailspin Toys")).to_have_count(0)
    names = page.locator("td.name a").all_inner_texts()
    assert HOSTILE in names
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert page.evaluate("window.pwned") is None and dialogs == []

    # Search finds one client; open its card.
    page.get_by_label("Search").fill("contos")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Contoso Ltd").click()
    expect(page.get_by_role("heading", name="Contoso Ltd")).to_be_visible()

    # Edit: the field is saved and marked protected.
    page.get_by_label("Notes").fill("Year-end close in March")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Notes")).to_have_value("Year-end close in March")
    notes = page.locator("label").filter(has_text="Notes")
    expect(notes.locator(".protected")).to_have_text(re.compile("edited by hand"))

    # The access link is masked until revealed, and the reveal is audited.
    assert "SECRET42" not in page.content()
    assert audit_count(site, "link_revealed") == 0
    page.get_by_role("button", name="Reveal").first.click()
    expect(page.locator("a.revealed")).to_have_text(ACCESS_LINK)
    assert audit_count(site, "link_revealed") == 1

    # Test client URL against the local HTTPS server, each step shown.
    page.get_by_role("button", name="Test client URL").click()
    expect(page.get_by_role("heading", name="Test client URL: verified")).to_be_visible()
    steps = page.locator("ol.steps li").all_inner_texts()
    assert any(step.startswith("rules:") for step in steps)
    assert any("200" in step for step in steps)
    expect(page.get_by_role("link", name="Go to company")).to_have_attribute(
        "href", "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"
    )

    # Needs attention: register the held client anyway, with a comment.
    page.get_by_role("link", name="Needs attention").click()
    item = page.locator(f'li[data-client-id="{site.ids["held"]}"]')
    item.get_by_label("Comment").fill("Tenant moved; checked by phone")
    item.get_by_role("button", name="Register anyway").click()
    expect(page.get_by_role("heading", name="Northwind Traders")).to_be_visible()
    expect(page.locator(".summary .status")).to_have_text("registered")
    page.get_by_role("link", name="Needs attention").click()
    expect(page.get_by_text("Nothing needs you.")).to_be_visible()

    # Export what the list shows.
    page.get_by_role("link", name="Clients", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["name"] for r in exported) == sorted(
        ["Contoso Ltd", "'" + HOSTILE if HOSTILE[0] in "=+-@" else HOSTILE, "Northwind Traders"]
    )
    assert all("SECRET42" not in r["access_link"] for r in exported)
    assert audit_count(site, "clients_exported") == 1

    # Sign out: the session ends in the database and its cookie opens nothing any more.
    cookies = context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    with site.app.sessions() as session:
        assert all(row.ended_at is not None for row in session.query(WebSession).all())
    replay = context.browser.new_context(base_url=site.base) if context.browser else None
    assert replay is not None
    replay.add_cookies(cookies)
    again = replay.new_page()
    again.goto("/clients")
    expect(again.get_by_role("heading", name="Sign in")).to_be_visible()
    replay.close()


def test_another_accountant_sees_neither_the_client_nor_its_actions(
    context: BrowserContext, site: Site
) -> None:
    page = context.new_page()
    sign_in(page, SAM)
    expect(page.locator("tbody tr")).to_have_count(1)
    reply = page.goto(f"/clients/{site.ids['contoso']}")
    assert reply is not None and reply.status == 404
    expect(page.get_by_text("does not exist, or it is not yours to see")).to_be_visible()
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    reply = page.goto("/audit")
    assert reply is not None and reply.status == 404


def test_the_main_pages_at_desktop_and_phone_width(browser: Browser, site: Site) -> None:
    folder = artifacts()
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            made = browser.new_context(
                base_url=site.base,
                viewport=viewport,
                color_scheme=scheme,  # type: ignore[arg-type]
            )
            page = made.new_page()
            page.goto("/login")
            page.screenshot(path=str(folder / f"login-{label}-{scheme}.png"))
            sign_in(page, ADMIN)
            for name, path in (
                ("clients", "/clients"),
                ("card", f"/clients/{site.ids['contoso']}"),
                ("attention", "/attention"),
                ("new", "/clients/new"),
                ("audit", "/audit"),
                ("mailboxes", "/mailboxes"),
                ("digest", "/digest"),
                ("account", "/account"),
            ):
                reply = page.goto(path)
                assert reply is not None and reply.status == 200, path
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} scrolls sideways at {label} width"
                page.screenshot(path=str(folder / f"{name}-{label}-{scheme}.png"), full_page=True)
            made.close()
    assert len(list(folder.glob("*.png"))) >= 36


def test_the_pages_in_french_follow_the_browsers_language(browser: Browser, site: Site) -> None:
    """A browser set to French gets every page in French (``lang``, headings, buttons)."""
    folder = artifacts()
    made = browser.new_context(base_url=site.base, viewport=PHONE, locale="fr-FR")
    page = made.new_page()
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("E-mail").fill(ALEX[0])
    page.get_by_label("Mot de passe").fill(ALEX[1])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    page.get_by_role("link", name="Contoso Ltd").click()
    expect(page.get_by_role("link", name="Aller à la société")).to_be_visible()
    expect(page.get_by_role("button", name="Tester l'URL du client")).to_be_visible()
    page.screenshot(path=str(folder / "card-phone-light-fr.png"), full_page=True)
    page.get_by_role("link", name="À traiter").click()
    expect(page.get_by_role("heading", name="À traiter")).to_be_visible()
    expect(page.get_by_role("button", name="Enregistrer quand même")).to_be_visible()
    page.screenshot(path=str(folder / "attention-phone-light-fr.png"), full_page=True)
    made.close()


def test_single_sign_on_in_the_browser(
    browser: Browser, database_url: str, tmp_path: Path, https_ca: trustme.CA
) -> None:
    """Chromium follows the flow as a person does: "Sign in with …", the provider (over HTTPS,
    its certificate from the test CA), back to the dashboard, signed in; the flow cookie is gone."""
    with open_sso_site(database_url, tmp_path, https_ca) as sso:
        sso.provider.sign_in_as(SSO_ALEX)
        made = browser.new_context(base_url=sso.base, viewport=DESKTOP, ignore_https_errors=True)
        page = made.new_page()
        page.goto("/login")
        page.get_by_role("link", name="Sign in with Firm Entra ID").click()
        expect(page.get_by_role("heading", name="Clients")).to_be_visible()
        expect(page.get_by_role("link", name="Contoso")).to_be_visible()
        expect(page.locator("header .who")).to_contain_text(SSO_ALEX)
        names = {cookie["name"] for cookie in made.cookies()}
        assert "acchub_session" in names and "acchub_oidc_flow" not in names
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        made.close()


def test_an_admin_works_through_every_accountants_items_in_the_browser(
    context: BrowserContext, site: Site
) -> None:
    """The admin's side: every client, bulk accept, another accountant's held look-alike
    dismissed with a comment, a quarantined message retried, a poll requested, all audited."""
    with site.app.sessions.begin() as session:
        session.add_all([
            ProcessedMessage(
                mailbox="invites", folder="INBOX", uidvalidity=1, uid=1, sender=SAM[0],
                subject="Urgent invitation", state="done", verdict="rejected",
                reasons={"reasons": ["the link's host is not Microsoft's"], "candidate": {
                    "rejected_url": "https://businesscentral.dynamics.com.evil.example/x"}},
            ),
            ProcessedMessage(
                mailbox="invites", folder="INBOX", uidvalidity=1, uid=2, sender=SAM[0],
                subject="Broken forward", state="quarantined", last_error="parser crashed",
                attempts=5,
            ),
        ])  # fmt: skip
    page = context.new_page()
    sign_in(page, ADMIN)
    expect(page.locator("tbody tr")).to_have_count(4)

    # Bulk: accept two clients of two accountants at once.
    for key in ("contoso", "sams"):
        page.locator(f'tr[data-client-id="{site.ids[key]}"] input[type=checkbox]').check()
    page.get_by_role("button", name="Mark accepted").click()
    expect(page.get_by_role("status")).to_have_text("Done for 2 client(s).")
    assert audit_count(site, "client_accepted") == 2

    # Needs attention holds every accountant's items for the admin.
    page.get_by_role("link", name="Needs attention").click()
    lookalike = page.locator("li[data-message-id]").filter(has_text="Urgent invitation")
    expect(lookalike.locator("code")).to_have_text(re.compile(r"^hxxps://"))  # defanged
    expect(lookalike.get_by_role("button", name="Register anyway")).to_have_count(0)
    lookalike.get_by_label("Comment").fill("Phishing, reported to security")
    lookalike.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_text("Urgent invitation")).to_have_count(0)
    broken = page.locator("li[data-message-id]").filter(has_text="Broken forward")
    broken.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_have_text("Done.")
    expect(broken).to_contain_text("0 attempt(s)")  # back in line for the poller's next pass
    assert audit_count(site, "dismissed") == 1 and audit_count(site, "retry_requested") == 1

    # Mailboxes: "Poll now" is a request the service answers; the page says it waits.
    page.get_by_role("link", name="Mailboxes").click()
    page.get_by_role("button", name="Poll now").click()
    expect(page.locator("tr[data-mailbox=invites] .requested")).to_contain_text("poll requested")

    # The audit log shows what was done, newest first.
    page.get_by_role("link", name="Audit log").click()
    actions = page.locator("table.audit tbody tr td:nth-child(3)")
    expect(actions.first).to_have_text("poll_requested")  # the page has arrived
    assert actions.all_inner_texts()[:4] == [
        "poll_requested", "retry_requested", "dismissed", "client_accepted",
    ]  # fmt: skip
