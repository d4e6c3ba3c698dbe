"""The Clients list as one SQL query: filters, search, sorting and a page, counted in the same
database round trips whatever the number of clients, so the page stays fast at ten thousand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from acchub_mailbot.core.clientquery import ClientQuery
from acchub_mailbot.store.models import Client, ClientOwner

SEARCHED = (
    Client.name, Client.client_url, Client.tenant, Client.contact_name, Client.contact_email,
    Client.notes,
)  # fmt: skip
SORT_COLUMNS: dict[str, Any] = {
    "id": Client.id,
    "name": func.lower(Client.name),
    "status": Client.status,
    "created_at": Client.created_at,
    "updated_at": Client.updated_at,
    "verified_at": Client.verified_at,
}


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _midnight(day: Any) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _filtered(query: Select[Any], q: ClientQuery) -> Select[Any]:
    if q.status:
        query = query.where(Client.status == q.status)
    if q.owner:
        query = query.where(
            exists().where(ClientOwner.client_id == Client.id, ClientOwner.address == q.owner)
        )
    if q.accepted is not None:
        query = query.where(Client.access_accepted.is_(q.accepted))
    if q.outcome == "untested":
        query = query.where(Client.verification_outcome.is_(None))
    elif q.outcome:
        query = query.where(Client.verification_outcome == q.outcome)
    if q.since:
        query = query.where(Client.created_at >= _midnight(q.since))
    if q.until:
        query = query.where(Client.created_at < _midnight(q.until) + timedelta(days=1))
    for word in (q.text or "").split():
        pattern = _like_pattern(word)
        query = query.where(
            or_(*(func.lower(column).like(pattern, escape="\\") for column in SEARCHED))
        )
    return query


def search(session: Session, q: ClientQuery) -> tuple[Sequence[Client], int]:
    """One page of the clients matching ``q`` (every match when ``q.per_page`` is None) and
    how many match in all."""
    total = int(session.scalar(_filtered(select(func.count(Client.id)), q)) or 0)
    column = SORT_COLUMNS[q.sort]
    order = [column.desc() if q.descending else column.asc()]
    if q.sort != "id":
        order.append(Client.id.desc() if q.descending else Client.id.asc())
    query = _filtered(select(Client), q).order_by(*order)
    if q.per_page:
        query = query.limit(q.per_page).offset((q.page - 1) * q.per_page)
    return session.scalars(query).all(), total
