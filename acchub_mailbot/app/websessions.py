"""Signed-in browsers as use cases: sign in, look a session up, sign out, list and end one's own.

Sessions live in the database, so signing out or disabling an account ends them on the next
request, on every instance. The cookie holds 256 random bits; only their SHA-256 is stored, as
for API tokens. A session ends after ``web.session_idle_minutes`` without a request and after
``web.session_absolute_hours`` in any case. Each session has its own CSRF token, which every
form that changes something must send back.

Wrong sign-ins are counted in the database, so the limit holds across instances and restarts:
after ``ACCOUNT_LIMIT`` wrong passwords for one account, or ``ADDRESS_LIMIT`` from one address,
within ``WINDOW``, further attempts are refused without checking the password until the oldest
of them leaves the window.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acchub_mailbot.app.accounts import authenticate, normalize_email
from acchub_mailbot.app.audit import SIGN_IN, SIGN_IN_FAILED, SIGN_OUT
from acchub_mailbot.app.runtime import App
from acchub_mailbot.app.tokens import digest
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store import audit as store_audit
from acchub_mailbot.store import users
from acchub_mailbot.store.models import SignInAttempt, User, WebSession, utcnow

WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


class Throttled(Refused):
    """Too many wrong sign-ins; ``retry_after`` is the wait in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many wrong sign-ins. Try again in {self.minutes} minute(s).")

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, rounded up: what a person is told."""
        return max(1, -(-self.retry_after // 60))


#: A request refreshes ``last_seen_at`` at most this often, so reading pages is not a write each.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """Who is behind a request's session cookie."""

    session_id: int
    email: str
    role: str
    csrf: str


@dataclass(frozen=True)
class SessionInfo:
    id: int
    created_at: datetime
    last_seen_at: datetime
    address: str | None
    user_agent: str | None
    current: bool


def sign_in(
    app: App, email: str, password: str, *, address: str | None, user_agent: str | None
) -> tuple[str, SignedIn] | None:
    """A new session's cookie value and identity, or None when the password is wrong.

    Raises ``Throttled`` when this account or address has failed too often lately.
    """
    email = normalize_email(email)
    address = (address or "")[:64] or None
    _check_throttle(app, email, address)
    account = authenticate(app, email, password)
    with app.sessions.begin() as session:
        session.add(
            SignInAttempt(email=email[:320], address=address, succeeded=account is not None)
        )
        action = SIGN_IN if account is not None else SIGN_IN_FAILED
        store_audit.add(session, email, action, address=address)
        if account is None:
            return None
        return _new_session(session, users.require(session, account.email), address, user_agent)


def sign_in_as(
    app: App, email: str, *, method: str, address: str | None, user_agent: str | None
) -> tuple[str, SignedIn]:
    """A new session for an identity someone else proved (single sign-on, ``method``).

    Refused, and audited as a failed sign-in, when no enabled account has this email: single
    sign-on never creates an account.
    """
    email = normalize_email(email)
    address = (address or "")[:64] or None
    with app.sessions.begin() as session:
        user = users.by_email(session, email)
        if user is not None and user.disabled_at is None:
            store_audit.add(session, email, SIGN_IN, detail={"method": method}, address=address)
            return _new_session(session, user, address, user_agent)
        store_audit.add(
            session, email, SIGN_IN_FAILED, detail={"method": method, "reason": "no account"},
            address=address,
        )  # fmt: skip
    raise Refused(
        f"{email} has no account here, or it is disabled: an admin adds it with "
        f"acchub-mailbot users add {email} --role accountant"
    )


def _new_session(
    session: Session, user: User, address: str | None, user_agent: str | None
) -> tuple[str, SignedIn]:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        digest=digest(token),
        user_id=user.id,
        csrf=secrets.token_urlsafe(32),
        address=address,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(row)
    session.flush()
    return token, SignedIn(row.id, user.email, user.role, row.csrf)


def _check_throttle(app: App, email: str, address: str | None) -> None:
    since = utcnow() - WINDOW
    wrong = select(func.count(), func.min(SignInAttempt.at)).where(
        SignInAttempt.succeeded.is_(False), SignInAttempt.at > since
    )
    with app.sessions() as session:
        checks = [(wrong.where(SignInAttempt.email == email), ACCOUNT_LIMIT)]
        if address:
            checks.append((wrong.where(SignInAttempt.address == address), ADDRESS_LIMIT))
        for query, limit in checks:
            count, oldest = session.execute(query).one()
            if count >= limit and oldest is not None:
                raise Throttled(int((oldest + WINDOW - utcnow()).total_seconds()) + 1)


def _limits(app: App) -> tuple[timedelta, timedelta]:
    web = app.settings.web
    return timedelta(minutes=web.session_idle_minutes), timedelta(hours=web.session_absolute_hours)


def current(app: App, token: str | None) -> SignedIn | None:
    """The identity behind a cookie, or None when it is unknown, ended, expired or disabled."""
    if not token:
        return None
    idle, absolute = _limits(app)
    now = utcnow()
    with app.sessions.begin() as session:
        row = session.scalars(
            select(WebSession).where(WebSession.digest == digest(token))
        ).one_or_none()
        if row is None or row.ended_at is not None:
            return None
        user = session.get(User, row.user_id)
        expired = now - row.last_seen_at > idle or now - row.created_at > absolute
        if user is None or user.disabled_at is not None or expired:
            row.ended_at = row.ended_at or now
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
        return SignedIn(row.id, user.email, user.role, row.csrf)


def sign_out(app: App, token: str | None, *, address: str | None = None) -> None:
    if not token:
        return
    with app.sessions.begin() as session:
        row = session.scalars(
            select(WebSession).where(
                WebSession.digest == digest(token), WebSession.ended_at.is_(None)
            )
        ).one_or_none()
        if row is None:
            return
        row.ended_at = utcnow()
        user = session.get(User, row.user_id)
        store_audit.add(session, user.email if user else "?", SIGN_OUT, address=address)


def sessions_of(app: App, who: SignedIn) -> list[SessionInfo]:
    """The live sessions of the signed-in account, newest first."""
    with app.sessions() as session:
        user = users.require(session, who.email)
        rows = session.scalars(
            select(WebSession)
            .where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
            .order_by(WebSession.created_at.desc())
        ).all()
        return [
            SessionInfo(
                r.id, r.created_at, r.last_seen_at, r.address, r.user_agent, r.id == who.session_id
            )
            for r in rows
        ]


def end_session(app: App, who: SignedIn, session_id: int) -> None:
    """End one of the signed-in account's own sessions; another account's is not found."""
    with app.sessions.begin() as session:
        user = users.require(session, who.email)
        row = session.get(WebSession, session_id)
        if row is None or row.user_id != user.id:
            raise NotFound(f"no session {session_id} of yours")
        row.ended_at = row.ended_at or utcnow()
