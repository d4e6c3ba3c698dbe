"""Dashboard sessions over a real SQLite database: the idle and absolute timeouts, sign-out,
and a person's own list of sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from acchub_mailbot.app import accounts, websessions
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import parse_settings
from acchub_mailbot.errors import NotFound
from acchub_mailbot.store.models import SignInAttempt, WebSession

DANA = ("dana@firm.example", "a long enough passphrase")
SAM = ("sam@firm.example", "another long passphrase")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    settings = parse_settings({"database": {"url": f"sqlite:///{tmp_path / 'w.db'}"}}, environ={})
    opened = App.open(settings)
    accounts.add_user(opened, DANA[0], "admin", DANA[1])
    accounts.add_user(opened, SAM[0], "accountant", SAM[1])
    yield opened
    opened.close()


def start(app: App, who: tuple[str, str]) -> tuple[str, websessions.SignedIn]:
    started = websessions.sign_in(app, *who, address="192.0.2.7", user_agent="test")
    assert started is not None
    return started


def age(app: App, session_id: int, *, created: timedelta, seen: timedelta) -> None:
    with app.sessions.begin() as session:
        row = session.get(WebSession, session_id)
        assert row is not None
        row.created_at -= created
        row.last_seen_at -= seen


def test_a_session_is_found_by_its_cookie_until_signed_out(app: App) -> None:
    token, who = start(app, DANA)
    assert websessions.current(app, token) == who
    assert websessions.current(app, token + "x") is None
    assert websessions.current(app, None) is None
    websessions.sign_out(app, token)
    assert websessions.current(app, token) is None


def test_a_wrong_password_starts_nothing(app: App) -> None:
    assert websessions.sign_in(app, DANA[0], "wrong", address=None, user_agent=None) is None
    assert websessions.sessions_of(app, start(app, DANA)[1])[0].current


@pytest.mark.parametrize(
    ("created", "seen", "alive"),
    [
        (timedelta(minutes=29), timedelta(minutes=29), True),  # the idle limit is 30 minutes
        (timedelta(minutes=31), timedelta(minutes=31), False),
        (timedelta(hours=11, minutes=59), timedelta(minutes=1), True),  # absolute: 12 hours
        (timedelta(hours=12, minutes=1), timedelta(minutes=1), False),
    ],
)
def test_the_idle_and_absolute_limits_at_their_defaults(
    app: App, created: timedelta, seen: timedelta, alive: bool
) -> None:
    token, who = start(app, DANA)
    age(app, who.session_id, created=created, seen=seen)
    assert (websessions.current(app, token) is not None) is alive
    if not alive:  # an expired session stays ended, even if the clock were set back
        age(app, who.session_id, created=-created, seen=-seen)
        assert websessions.current(app, token) is None


def test_a_person_lists_and_ends_only_their_own_sessions(app: App) -> None:
    first, me = start(app, DANA)
    second, _again = start(app, DANA)
    _other_token, other = start(app, SAM)
    mine = websessions.sessions_of(app, me)
    assert len(mine) == 2 and [s.current for s in mine].count(True) == 1
    with pytest.raises(NotFound):
        websessions.end_session(app, me, other.session_id)
    ended = next(s.id for s in mine if not s.current)
    websessions.end_session(app, me, ended)
    assert websessions.current(app, second) is None
    assert websessions.current(app, first) is not None
    assert websessions.current(app, _other_token) is not None


def test_wrong_sign_ins_are_limited_per_account_at_the_defaults(app: App) -> None:
    for _ in range(websessions.ACCOUNT_LIMIT):
        assert websessions.sign_in(app, DANA[0], "wrong", address=None, user_agent=None) is None
    with pytest.raises(websessions.Throttled) as refused:
        websessions.sign_in(app, DANA[0], DANA[1], address=None, user_agent=None)  # even right
    assert 0 < refused.value.retry_after <= websessions.WINDOW.total_seconds() + 1
    assert "Try again in 15 minute(s)" in str(refused.value)
    assert websessions.sign_in(app, *SAM, address=None, user_agent=None) is not None  # others
    with app.sessions.begin() as session:  # the window passes
        for row in session.scalars(select(SignInAttempt)):
            row.at -= websessions.WINDOW
    assert websessions.sign_in(app, *DANA, address=None, user_agent=None) is not None


def test_wrong_sign_ins_are_limited_per_address_across_accounts(app: App) -> None:
    for n in range(websessions.ADDRESS_LIMIT):
        email = f"guess{n}@firm.example"
        assert websessions.sign_in(app, email, "x", address="198.51.100.9", user_agent=None) is None
    with pytest.raises(websessions.Throttled):
        websessions.sign_in(app, *SAM, address="198.51.100.9", user_agent=None)
    assert websessions.sign_in(app, *SAM, address="198.51.100.10", user_agent=None) is not None
