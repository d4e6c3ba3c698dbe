"""A person's own page: their sessions and tokens, and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acchub_mailbot.app import ownaccount, tokens, websessions
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound
from tests.unit.app.dashboard_world import ALEX, SAM, open_world


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    for made, _ids in open_world(database_url):
        yield made


def signed_in(app: App, email: str) -> tuple[str, websessions.SignedIn]:
    started = websessions.sign_in(app, email, f"{email} passphrase", address=None, user_agent="t")
    assert started is not None
    return started


def test_tokens_are_shown_once_listed_by_hint_and_revoked_only_by_their_owner(app: App) -> None:
    _cookie, alex = signed_in(app, ALEX.email)
    _cookie, sam = signed_in(app, SAM.email)
    info, secret = ownaccount.create_own_token(app, alex, read_only=True)
    page = ownaccount.own_account(app, alex)
    assert [t.id for t in page.tokens] == [info.id] and secret not in repr(page)
    assert ownaccount.own_account(app, sam).tokens == []
    with pytest.raises(NotFound):
        ownaccount.revoke_own_token(app, sam, info.id)
    assert tokens.bearer(app, secret) is not None
    ownaccount.revoke_own_token(app, alex, info.id)
    assert tokens.bearer(app, secret) is None and ownaccount.own_account(app, alex).tokens == []


def test_ending_a_session_signs_that_browser_out_and_only_ones_own(app: App) -> None:
    laptop_cookie, laptop = signed_in(app, ALEX.email)
    phone_cookie, phone = signed_in(app, ALEX.email)
    _cookie, sam = signed_in(app, SAM.email)
    listed = ownaccount.own_account(app, laptop).sessions
    assert {s.id for s in listed} == {laptop.session_id, phone.session_id}
    assert [s.current for s in listed if s.id == laptop.session_id] == [True]
    with pytest.raises(NotFound):
        ownaccount.end_own_session(app, sam, phone.session_id)
    ownaccount.end_own_session(app, laptop, phone.session_id)
    assert websessions.current(app, phone_cookie) is None
    assert websessions.current(app, laptop_cookie) == laptop
