"""The audit log in the database: rows are added, read newest first, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acchub_mailbot.store.models import AuditEntry


def add(
    session: Session,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor=actor[:320],
            action=action[:40],
            target=target[:200] if target else None,
            detail=detail or {},
            address=(address or "")[:64] or None,
        )
    )


def entries(
    session: Session, *, action: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[Sequence[AuditEntry], int]:
    """One page of entries, newest first, and how many there are in all."""
    query = select(AuditEntry)
    counted = select(func.count()).select_from(AuditEntry)
    if action:
        query = query.where(AuditEntry.action == action)
        counted = counted.where(AuditEntry.action == action)
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)).all()
    return rows, int(session.scalar(counted) or 0)
