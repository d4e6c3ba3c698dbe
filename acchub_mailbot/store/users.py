"""Dashboard accounts in the database: found by their lower-case email, never deleted (a
disabled account keeps its history and cannot sign in)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from acchub_mailbot.errors import NotFound
from acchub_mailbot.store.models import ApiToken, User


def by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def all_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def require(session: Session, email: str) -> User:
    """The account with this (lower-case) email, or ``NotFound`` naming it."""
    user = by_email(session, email)
    if user is None:
        raise NotFound(f"no account for {email} (see `acchub-mailbot users list`)")
    return user


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.digest == digest)).one_or_none()


def tokens(session: Session, user_id: int | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return session.scalars(query).all()
