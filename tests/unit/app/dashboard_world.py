"""The world the dashboard's use-case tests share: an App over the test's database with an
admin, two accountants and one client owned by each (helpers, not tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from acchub_mailbot.app import accounts
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from tests.webclient import add_owned_client

LINK = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?signupcode=SECRET77"


@dataclass(frozen=True)
class Person:
    email: str
    role: str


ADMIN = Person("dana@firm.example", "admin")
ALEX = Person("alex@firm.example", "accountant")
SAM = Person("sam@firm.example", "accountant")


def open_world(database_url: str, mailboxes: list[dict[str, object]] | None = None) -> Iterator[
    tuple[App, dict[str, int]]
]:  # fmt: skip
    config: dict[str, object] = {
        "database": {"url": database_url},
        "verification": {"live_check": False},  # no request leaves a unit test
    }
    if mailboxes:
        config["mailboxes"] = mailboxes
    app = App.open(parse_settings(config, environ={"ACCHUB_TEST_UNUSED": "x"}))
    for person in (ADMIN, ALEX, SAM):
        accounts.add_user(app, person.email, person.role, f"{person.email} passphrase")
    ids = {
        ALEX.email: add_owned_client(app, "Contoso", "contoso.onmicrosoft.com", ALEX.email, LINK),
        SAM.email: add_owned_client(app, "Fabrikam", "fabrikam.onmicrosoft.com", SAM.email),
    }
    try:
        yield app, ids
    finally:
        app.close()
