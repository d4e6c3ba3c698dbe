"""Personal API tokens over a real SQLite database: shown once, stored hashed, and refused as
soon as they are revoked or their account is disabled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from acchub_mailbot.app import accounts, tokens
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.errors import NotFound
from acchub_mailbot.store.models import ApiToken


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = parse_settings({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"}}, environ={})
    opened = App.open(settings)
    accounts.add_user(opened, "dana@firm.example", "admin", "a long enough passphrase")
    accounts.add_user(opened, "sam@firm.example", "accountant", None)
    yield opened
    opened.close()


def test_a_token_speaks_for_its_account_and_is_stored_only_as_a_hash(app: App) -> None:
    info, secret = tokens.create_token(app, "Dana@firm.example", read_only=False)
    assert secret.startswith("acchub_") and len(secret) >= 7 + 43
    assert info.email == "dana@firm.example" and secret.startswith(info.hint)
    with app.sessions() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert secret not in (stored.digest, stored.hint)
    found = tokens.bearer(app, secret)
    assert found == tokens.Bearer(email="dana@firm.example", role="admin", read_only=False)
    assert tokens.list_tokens(app)[0].last_used_at is not None
    assert "token" not in tokens.list_tokens(app)[0].as_dict()


def test_a_read_only_token_says_so(app: App) -> None:
    _info, secret = tokens.create_token(app, "sam@firm.example", read_only=True)
    found = tokens.bearer(app, secret)
    assert found is not None and found.read_only and found.role == "accountant"


@pytest.mark.parametrize("wrong", ["", "acchub_", "acchub_" + "x" * 43, "Bearer x", "x" * 50])
def test_anything_but_a_known_token_is_refused(app: App, wrong: str) -> None:
    tokens.create_token(app, "dana@firm.example", read_only=False)
    assert tokens.bearer(app, wrong) is None


def test_revoking_or_disabling_ends_a_token_at_once(app: App) -> None:
    first, secret = tokens.create_token(app, "dana@firm.example", read_only=False)
    _second, other = tokens.create_token(app, "sam@firm.example", read_only=False)
    tokens.revoke_token(app, first.id)
    assert tokens.bearer(app, secret) is None
    assert tokens.bearer(app, other) is not None
    accounts.set_disabled(app, "sam@firm.example", True)
    assert tokens.bearer(app, other) is None
    assert [t.revoked for t in tokens.list_tokens(app)] == [True, False]
    assert [t.email for t in tokens.list_tokens(app, "sam@firm.example")] == ["sam@firm.example"]


def test_unknown_accounts_and_tokens_are_named(app: App) -> None:
    with pytest.raises(NotFound, match="no account for eve"):
        tokens.create_token(app, "eve@firm.example", read_only=True)
    with pytest.raises(NotFound, match="no token 99"):
        tokens.revoke_token(app, 99)
