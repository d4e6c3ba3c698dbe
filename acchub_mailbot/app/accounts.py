"""Dashboard accounts as use cases: add, list, disable, enable and set a password.

The ``users`` commands call these, and the web dashboard's sign-in will check passwords through
``authenticate``, so the rules live once: emails are compared lower-case, passwords are hashed
with argon2 (argon2-cffi's defaults, RFC 9106's second recommended option) and rehashed when
those defaults change, a password must be at least 12 characters and not the email, and a
disabled account cannot sign in. Accounts are never deleted: their history stays theirs.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import is_address
from acchub_mailbot.core.roles import ROLES
from acchub_mailbot.errors import Refused
from acchub_mailbot.store import users
from acchub_mailbot.store.models import User, utcnow

MIN_PASSWORD = 12
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the account does not exist, so a sign-in takes as long either way."""
    return _hasher.hash(secrets.token_urlsafe(16))


def normalize_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str, email: str) -> str | None:
    """Why a password is refused, in words for the person choosing it; None when it is fine."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if password.strip().lower() == normalize_email(email):
        return "a password must not be the account's email"
    return None


def new_password() -> str:
    """A random password for an account created or reset without one: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    active: bool
    has_password: bool
    created_at: datetime
    last_sign_in_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The stable shape of ``users list --json``."""
        return {
            "email": self.email,
            "role": self.role,
            "active": self.active,
            "has_password": self.has_password,
            "created_at": self.created_at.isoformat(),
            "last_sign_in_at": self.last_sign_in_at.isoformat() if self.last_sign_in_at else None,
        }


def _account(user: User) -> Account:
    return Account(
        email=user.email,
        role=user.role,
        active=user.disabled_at is None,
        has_password=user.password_hash is not None,
        created_at=user.created_at,
        last_sign_in_at=user.last_sign_in_at,
    )


def add_user(app: App, email: str, role: str, password: str | None) -> Account:
    """Create an account; ``password`` None makes one that signs in only through single
    sign-on until a password is set."""
    email = normalize_email(email)
    if not is_address(email):
        raise Refused(f"{email!r} is not an email address")
    if role not in ROLES:
        raise Refused(f"role {role!r} is not one of {', '.join(ROLES)}")
    if password is not None and (problem := password_problem(password, email)):
        raise Refused(problem)
    with app.sessions.begin() as session:
        if users.by_email(session, email) is not None:
            raise Refused(f"an account for {email} already exists")
        now = utcnow()
        user = User(
            email=email,
            role=role,
            password_hash=_hasher.hash(password) if password is not None else None,
            created_at=now,
            password_changed_at=now if password is not None else None,
        )
        session.add(user)
        session.flush()
        return _account(user)


def list_users(app: App) -> list[Account]:
    with app.sessions() as session:
        return [_account(u) for u in users.all_users(session)]


def set_disabled(app: App, email: str, disabled: bool) -> Account:
    """Disable (or enable again) an account; a disabled account cannot sign in."""
    with app.sessions.begin() as session:
        user = users.require(session, normalize_email(email))
        if disabled and user.disabled_at is None:
            user.disabled_at = utcnow()
        elif not disabled:
            user.disabled_at = None
        return _account(user)


def set_password(app: App, email: str, password: str) -> Account:
    with app.sessions.begin() as session:
        user = users.require(session, normalize_email(email))
        if problem := password_problem(password, user.email):
            raise Refused(problem)
        user.password_hash = _hasher.hash(password)
        user.password_changed_at = utcnow()
        return _account(user)


def authenticate(app: App, email: str, password: str) -> Account | None:
    """The account when the password is right and the account active; None otherwise, after
    the same argon2 work whether or not the account exists."""
    with app.sessions.begin() as session:
        user = users.by_email(session, normalize_email(email))
        stored = user.password_hash if user is not None else None
        try:
            _hasher.verify(stored or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or stored is None or user.disabled_at is not None:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        user.last_sign_in_at = utcnow()
        return _account(user)
