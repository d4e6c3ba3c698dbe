"""Dashboard accounts in the database: found by their lower-case email, never deleted (a
disabled account keeps its history and cannot sign in)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import User


def by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def all_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()
