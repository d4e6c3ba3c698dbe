"""The dashboard account use cases over a real SQLite database: hashing, the password rules,
disabling, and a sign-in check that answers the same for every kind of failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from acchub_mailbot.app import accounts
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store.models import User

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = parse_settings({"database": {"url": f"sqlite:///{tmp_path / 'a.db'}"}}, environ={})
    opened = App.open(settings)
    yield opened
    opened.close()


def stored_hash(app: App, email: str) -> str | None:
    with app.sessions() as session:
        return session.scalars(select(User.password_hash).where(User.email == email)).one()


def test_an_account_is_stored_lower_case_with_an_argon2_hash_never_the_password(app: App) -> None:
    added = accounts.add_user(app, "  Dana@Firm.Example ", "admin", PASSWORD)
    assert (added.email, added.role, added.active) == ("dana@firm.example", "admin", True)
    digest = stored_hash(app, "dana@firm.example")
    assert digest is not None and digest.startswith("$argon2id$")
    assert PASSWORD not in digest
    assert [a.email for a in accounts.list_users(app)] == ["dana@firm.example"]


def test_sign_in_succeeds_only_with_the_right_password_on_an_active_account(app: App) -> None:
    accounts.add_user(app, "dana@firm.example", "accountant", PASSWORD)
    signed_in = accounts.authenticate(app, "DANA@firm.example", PASSWORD)
    assert signed_in is not None and signed_in.last_sign_in_at is not None
    assert accounts.authenticate(app, "dana@firm.example", PASSWORD + "!") is None
    assert accounts.authenticate(app, "nobody@firm.example", PASSWORD) is None
    accounts.set_disabled(app, "dana@firm.example", True)
    assert accounts.authenticate(app, "dana@firm.example", PASSWORD) is None
    accounts.set_disabled(app, "dana@firm.example", False)
    assert accounts.authenticate(app, "dana@firm.example", PASSWORD) is not None


def test_an_account_without_a_password_cannot_sign_in_with_one(app: App) -> None:
    accounts.add_user(app, "sso@firm.example", "accountant", None)
    assert stored_hash(app, "sso@firm.example") is None
    assert accounts.authenticate(app, "sso@firm.example", "") is None
    assert accounts.authenticate(app, "sso@firm.example", PASSWORD) is None


def test_a_reset_password_replaces_the_old_one(app: App) -> None:
    accounts.add_user(app, "dana@firm.example", "admin", PASSWORD)
    accounts.set_password(app, "dana@firm.example", "another long passphrase")
    assert accounts.authenticate(app, "dana@firm.example", PASSWORD) is None
    assert accounts.authenticate(app, "dana@firm.example", "another long passphrase") is not None


@pytest.mark.parametrize(
    ("email", "role", "password", "message"),
    [
        ("dana@firm.example", "admin", "short", "at least 12 characters"),
        ("dana@firm.example", "admin", "Dana@Firm.Example", "must not be the account's email"),
        ("dana@firm.example", "owner", PASSWORD, "role 'owner' is not one of admin, accountant"),
        ("not-an-address", "admin", PASSWORD, "is not an email address"),
        ("dana @firm.example", "admin", PASSWORD, "is not an email address"),
    ],
)
def test_refusals_say_why_and_store_nothing(
    app: App, email: str, role: str, password: str, message: str
) -> None:
    with pytest.raises(Refused, match=message):
        accounts.add_user(app, email, role, password)
    assert accounts.list_users(app) == []


def test_the_same_email_twice_is_refused_and_unknown_accounts_are_named(app: App) -> None:
    accounts.add_user(app, "dana@firm.example", "admin", PASSWORD)
    with pytest.raises(Refused, match="already exists"):
        accounts.add_user(app, "DANA@firm.example", "accountant", PASSWORD)
    with pytest.raises(NotFound, match=r"no account for eve@firm\.example"):
        accounts.set_disabled(app, "Eve@firm.example", True)
    with pytest.raises(NotFound):
        accounts.set_password(app, "eve@firm.example", PASSWORD)


def test_generated_passwords_pass_the_rules_and_differ() -> None:
    made = {accounts.new_password() for _ in range(20)}
    assert len(made) == 20
    assert all(accounts.password_problem(p, "dana@firm.example") is None for p in made)
