"""Personal API tokens as use cases: create (shown once), list, revoke, and the bearer check
the dashboard's API will use.

A token is ``acchub_`` and 43 random URL-safe characters (256 bits). Only its SHA-256 is
stored: with that much entropy a fast hash cannot be searched backwards, and it lets a request
find its token with one indexed lookup, which a salted slow hash would not. The first
characters are kept as a hint so a person can tell their tokens apart. A token stops working
when it is revoked or its account is disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from acchub_mailbot.app.accounts import normalize_email
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound
from acchub_mailbot.store import users
from acchub_mailbot.store.models import ApiToken, User, utcnow

PREFIX = "acchub_"
HINT_LENGTH = len(PREFIX) + 4


def digest(token: str) -> str:
    """What is stored of a high-entropy secret (a token, a session cookie): its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    id: int
    email: str
    hint: str
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    def as_dict(self) -> dict[str, Any]:
        """The stable shape of ``tokens list --json``; never the token itself."""
        return {
            "id": self.id,
            "email": self.email,
            "hint": self.hint + "…",
            "read_only": self.read_only,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class Bearer:
    """Who a request's token speaks for, and whether it may change anything."""

    email: str
    role: str
    read_only: bool


def _info(token: ApiToken, email: str) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        email=email,
        hint=token.hint,
        read_only=token.read_only,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked=token.revoked_at is not None,
    )


def create_token(app: App, email: str, *, read_only: bool) -> tuple[TokenInfo, str]:
    """A new token for the account; the second value is the token, which nothing shows again."""
    secret = PREFIX + secrets.token_urlsafe(32)
    with app.sessions.begin() as session:
        user = users.require(session, normalize_email(email))
        token = ApiToken(
            user_id=user.id,
            digest=digest(secret),
            hint=secret[:HINT_LENGTH],
            read_only=read_only,
            created_at=utcnow(),
        )
        session.add(token)
        session.flush()
        return _info(token, user.email), secret


def list_tokens(app: App, email: str | None = None) -> list[TokenInfo]:
    with app.sessions() as session:
        owner = users.require(session, normalize_email(email)) if email else None
        emails = {u.id: u.email for u in users.all_users(session)}
        return [
            _info(t, emails[t.user_id])
            for t in users.tokens(session, owner.id if owner is not None else None)
        ]


def revoke_token(app: App, token_id: int) -> TokenInfo:
    with app.sessions.begin() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"no token {token_id} (see `acchub-mailbot tokens list`)")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
        user = session.get(User, token.user_id)
        return _info(token, user.email if user is not None else "?")


def bearer(app: App, token: str) -> Bearer | None:
    """The identity behind an ``Authorization: Bearer`` token; None for anything not valid now."""
    if not token.startswith(PREFIX):
        return None
    with app.sessions.begin() as session:
        found = users.token_by_digest(session, digest(token))
        if found is None or found.revoked_at is not None:
            return None
        user = session.get(User, found.user_id)
        if user is None or user.disabled_at is not None:
            return None
        found.last_used_at = utcnow()
        return Bearer(email=user.email, role=user.role, read_only=found.read_only)
