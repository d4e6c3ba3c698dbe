"""The Clients window as use cases: list, show, add, edit, test, open, accept, archive, export.

Every front end (the CLI today, the web pages and their API next) calls these, so the rules live
once: a client URL passes the offline rules before it is stored, a field edited by hand is
protected from later invitations, a live test is recorded on the card, and every change writes
history with the actor who made it. Each returns plain values (the stable JSON shape of
``client_as_dict``) and raises ``NotFound`` or ``Refused`` with a message meant for the person.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.clientquery import ClientQuery, pages
from acchub_mailbot.core.urlrules import check_client_url
from acchub_mailbot.errors import Refused
from acchub_mailbot.store import clientsearch, owners, registry
from acchub_mailbot.verify.urlcheck import VerificationResult

STATUSES = registry.STATUSES

#: The columns of ``clients export --format csv``, in order.
EXPORT_COLUMNS = (
    "id", "name", "client_url", "tenant", "status", "access_accepted", "access_link",
    "add_client_link", "contact_name", "contact_email", "phone", "notes", "created_at",
    "updated_at",
)  # fmt: skip

#: First characters that make a spreadsheet treat a CSV cell as a formula (OWASP list). A tuple,
#: not a string: ``"" in "=+-@"`` is true and would mangle empty values.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def list_clients(
    app: App, *, status: str | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    """Clients in ID order, optionally of one status or forwarded by one accountant."""
    query = ClientQuery(
        status=status, owner=owners.normalize_address(owner) if owner else None, per_page=None
    )
    return find_clients(app, query).items


@dataclass(frozen=True)
class ClientPage:
    """One page of the Clients list and where it sits in the whole."""

    items: list[dict[str, Any]]
    total: int
    query: ClientQuery

    @property
    def pages(self) -> int:
        return pages(self.total, self.query.per_page)


def find_clients(app: App, query: ClientQuery) -> ClientPage:
    """The clients matching ``query``: filters, search and sorting done by the database."""
    with app.sessions() as session:
        rows, total = clientsearch.search(session, query)
        names = owners.owners_by_client(session, [c.id for c in rows])
        items = [registry.client_as_dict(c, owners=names[c.id]) for c in rows]
    return ClientPage(items, total, query)


def show_client(app: App, ref: str) -> dict[str, Any]:
    """One client card by ID or client URL, with its owners and full history."""
    with app.sessions() as session:
        found = registry.find_client(session, ref)
        return registry.client_as_dict(
            found, with_history=True, owners=owners.owners_of(session, found.id)
        )


def _checked_url(url: str) -> tuple[str, str | None]:
    rule = check_client_url(url, allow_environment=True)
    if not rule.ok or rule.client_url is None:
        raise Refused(f"client URL refused: {rule.reason}")
    return rule.client_url, rule.tenant


def add_client(
    app: App, *, url: str, fields: Mapping[str, Any], test: bool = True, actor: str = "cli"
) -> dict[str, Any]:
    """A client entered by hand, checked like an automatic one: the offline rules always, the
    live test when it is on and ``test`` is true."""
    client_url, tenant = _checked_url(url)
    live = app.settings.verification.live_check and test
    with app.sessions.begin() as session:
        client = registry.add_client(
            session,
            client_url=client_url,
            tenant=tenant,
            fields={k: v for k, v in fields.items() if v is not None},
            status="pending_verification" if live else "registered",
            actor=actor,
        )
        client.mailbox = app.settings.mailboxes[0].name if app.settings.mailboxes else None
        client_id = client.id
    if live:
        app.record_verification(client_id, app.checker.check(client_url), actor=actor)
    with app.sessions() as session:
        return registry.client_as_dict(registry.find_client(session, str(client_id)))


def edit_client(
    app: App, ref: str, changes: Mapping[str, Any], *, actor: str = "cli"
) -> tuple[set[str], dict[str, Any]]:
    """Change fields of a card; the fields changed become protected. Returns what changed."""
    wanted = {k: v for k, v in changes.items() if v is not None}
    if not wanted:
        raise Refused("nothing to change: give at least one field")
    if "client_url" in wanted:
        wanted["client_url"], _ = _checked_url(wanted["client_url"])
    with app.sessions.begin() as session:
        client = registry.find_client(session, ref)
        applied = registry.edit_client(session, client, wanted, actor=actor)
        return set(applied), registry.client_as_dict(client)


@dataclass(frozen=True)
class UrlTest:
    """*Test client URL*: what was tested and what the live check found."""

    url: str
    result: VerificationResult

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "outcome": self.result.outcome.value,
            "reason": self.result.reason,
            "checked": list(self.result.checked),
            "final_url": self.result.final_url,
            "checked_at": self.result.checked_at.isoformat(),
        }


def url_test(app: App, ref: str, *, actor: str = "cli") -> UrlTest:
    """Test a client's URL (REF an ID or a URL); a known client's card records the result.

    A bare URL that is no client is still tested, so a URL can be tried before adding it.
    """
    client_id: int | None = None
    url = ref
    with app.sessions() as session:
        if ref.isdigit() or not ref.lower().startswith(("http://", "https://")):
            client = registry.find_client(session, ref)
            client_id, url = client.id, client.client_url
        else:
            try:
                client_id = registry.find_client(session, ref).id
            except registry.ClientNotFound:
                client_id = None
    result = app.checker.check(url)
    if client_id is not None:
        app.record_verification(client_id, result, actor=actor)
    return UrlTest(url, result)


def client_to_open(app: App, ref: str) -> tuple[str, str]:
    """*Go to company*: the client URL and the client's status (a front end warns on bad ones)."""
    with app.sessions() as session:
        client = registry.find_client(session, ref)
        return client.client_url, client.status


def accept_client(app: App, ref: str, *, actor: str = "cli") -> tuple[int, bool]:
    """Record that the access link was opened and accepted; says whether that is new."""
    with app.sessions.begin() as session:
        client = registry.find_client(session, ref)
        return client.id, registry.set_accepted(session, client, actor=actor)


def archive_client(app: App, ref: str, *, actor: str = "cli") -> int:
    """Hide a client from the active list; a new invitation for it revives it."""
    with app.sessions.begin() as session:
        client = registry.find_client(session, ref)
        registry.set_status(session, client, "archived", actor=actor, action="archived")
        return client.id


def _spreadsheet_safe(value: Any) -> Any:
    """A leading = + - @ (or tab, CR) would make spreadsheets run the cell as a formula."""
    return "'" + value if isinstance(value, str) and value[:1] in FORMULA_STARTS else value


def export_clients(app: App, fmt: str = "csv") -> tuple[str, int]:
    """Every client as CSV (safe to open in a spreadsheet) or JSON; returns text and count."""
    with app.sessions() as session:
        data = [registry.client_as_dict(c) for c in registry.list_clients(session)]
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", len(data)
    return as_csv(data), len(data)


def as_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Clients as CSV in ``EXPORT_COLUMNS``, every cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _spreadsheet_safe(v) for k, v in row.items()})
    return buffer.getvalue()
