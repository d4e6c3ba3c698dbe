"""What a person asks of the Clients list: filters, search, sorting and a page, read from the
query string of the page or the API.

Pure: a mapping of strings in, a ``ClientQuery`` out. A value the list cannot use is refused
with a message naming the parameter, so the API can answer 400 and the page can say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

STATUSES = ("pending_verification", "registered", "needs_review", "rejected", "archived")
#: ``test``: the last *Test client URL* outcome; ``untested`` for a client never tested.
OUTCOMES = ("verified", "unreachable", "failed", "untested")
SORTS = ("id", "name", "status", "created_at", "updated_at", "verified_at")
PER_PAGE = 50
MAX_PER_PAGE = 500


class QueryError(ValueError):
    """A query-string value the list cannot use; the message names the parameter."""


@dataclass(frozen=True)
class ClientQuery:
    status: str | None = None
    owner: str | None = None
    accepted: bool | None = None
    outcome: str | None = None
    since: date | None = None
    until: date | None = None
    text: str | None = None
    sort: str = "id"
    descending: bool = False
    page: int = 1
    per_page: int | None = PER_PAGE

    def for_owner(self, owner: str) -> ClientQuery:
        return replace(self, owner=owner)

    def params(self, **changes: object) -> dict[str, str]:
        """This query as query-string parameters (for links to other pages and sorts)."""
        query = replace(self, **changes)  # type: ignore[arg-type]
        values: dict[str, object] = {
            "status": query.status,
            "owner": query.owner,
            "accepted": None if query.accepted is None else ("yes" if query.accepted else "no"),
            "test": query.outcome,
            "since": query.since,
            "until": query.until,
            "q": query.text,
            "sort": None if query.sort == "id" else query.sort,
            "order": "desc" if query.descending else None,
            "page": None if query.page == 1 else query.page,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


def _one_of(params: Mapping[str, str], key: str, allowed: tuple[str, ...]) -> str | None:
    value = (params.get(key) or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise QueryError(f"{key} must be one of {', '.join(allowed)}")
    return value


def _date(params: Mapping[str, str], key: str) -> date | None:
    value = (params.get(key) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{key} must be a date as YYYY-MM-DD") from None


def _number(params: Mapping[str, str], key: str, default: int, top: int) -> int:
    value = (params.get(key) or "").strip()
    if not value:
        return default
    if not value.isdigit() or not 1 <= int(value) <= top:
        raise QueryError(f"{key} must be a whole number from 1 to {top}")
    return int(value)


def parse_query(params: Mapping[str, str], *, paged: bool = True) -> ClientQuery:
    """The query behind ``params``; without ``paged`` and without ``page``, every match."""
    accepted_text = _one_of(params, "accepted", ("yes", "no", "true", "false"))
    order = _one_of(params, "order", ("asc", "desc"))
    text = " ".join((params.get("q") or "").split())[:200] or None
    owner = (params.get("owner") or "").strip().lower() or None
    wants_page = paged or bool((params.get("page") or params.get("per_page") or "").strip())
    return ClientQuery(
        status=_one_of(params, "status", STATUSES),
        owner=owner,
        accepted=None if accepted_text is None else accepted_text in ("yes", "true"),
        outcome=_one_of(params, "test", OUTCOMES),
        since=_date(params, "since"),
        until=_date(params, "until"),
        text=text,
        sort=_one_of(params, "sort", SORTS) or "id",
        descending=order == "desc",
        page=_number(params, "page", 1, 1_000_000),
        per_page=_number(params, "per_page", PER_PAGE, MAX_PER_PAGE) if wants_page else None,
    )


def pages(total: int, per_page: int | None) -> int:
    return 1 if not per_page else max(1, -(-total // per_page))
