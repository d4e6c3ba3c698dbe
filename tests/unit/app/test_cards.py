"""The client card's use cases as a signed-in person calls them: masked links, an audited
reveal, edits that protect fields, the accountant's limits, New client and its owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from acchub_mailbot.app import cards
from acchub_mailbot.app.runtime import App
from acchub_mailbot.core.clientquery import ClientQuery
from acchub_mailbot.errors import NotFound, Refused
from acchub_mailbot.store.models import AuditEntry
from tests.unit.app.dashboard_world import ADMIN, ALEX, LINK, SAM, open_world


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[App, dict[str, int]]]:
    yield from open_world(database_url)


def audited(app: App, action: str) -> list[tuple[str, str | None, dict[str, object]]]:
    with app.sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.target, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_card_masks_links_and_a_reveal_is_audited_first(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    card = cards.card(app, ALEX, ref)
    assert card["access_link"] == "https://businesscentral.dynamics.com/•••••"
    assert "SECRET77" not in repr(card)
    assert audited(app, "link_revealed") == []
    assert cards.reveal(app, ALEX, ref, address="192.0.2.1") == LINK
    assert audited(app, "link_revealed") == [
        (ALEX.email, f"client {ref}", {"field": "access_link"})
    ]
    with pytest.raises(Refused):
        cards.reveal(app, ALEX, ref, "notes")


def test_another_accountant_can_neither_see_nor_touch_the_card(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    for call in (
        lambda: cards.card(app, SAM, ref),
        lambda: cards.reveal(app, SAM, ref),
        lambda: cards.edit(app, SAM, ref, {"name": "Mine now"}),
        lambda: cards.accept(app, SAM, ref),
        lambda: cards.archive(app, SAM, ref),
    ):
        with pytest.raises(NotFound):
            call()
    assert cards.card(app, ADMIN, ref)["name"] == "Contoso"  # nothing changed
    assert audited(app, "link_revealed") == []


def test_an_edit_protects_the_fields_it_changed_and_keeps_masked_links(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    changed = cards.edit(app, ALEX, ref, {"name": " Contoso Ltd ", "phone": "+44 20",
                                          "access_link": "", "notes": None})  # fmt: skip
    assert changed == {"name", "phone"}
    card = cards.card(app, ADMIN, ref)
    assert card["name"] == "Contoso Ltd" and set(card["edited_fields"]) >= {"name", "phone"}
    assert cards.reveal(app, ADMIN, ref) == LINK  # a blank masked field keeps its link
    assert cards.edit(app, ALEX, ref, {"name": "Contoso Ltd"}) == set()  # no change, no entry
    assert audited(app, "client_edited") == [
        (ALEX.email, f"client {ref}", {"fields": ["name", "phone"]})
    ]


def test_an_accountant_may_register_or_archive_and_an_admin_may_set_any_status(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    with pytest.raises(Refused, match="registered or archived only"):
        cards.edit(app, ALEX, ref, {"status": "needs_review"})
    cards.edit(app, ALEX, ref, {"status": "archived"})
    assert cards.card(app, ALEX, ref)["status"] == "archived"
    cards.edit(app, ADMIN, ref, {"status": "needs_review"})
    assert cards.card(app, ALEX, ref)["status"] == "needs_review"


def test_accept_is_audited_once_and_archive_every_time(world: tuple[App, dict[str, int]]) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    assert cards.accept(app, ALEX, ref) is True
    assert cards.accept(app, ALEX, ref) is False
    assert len(audited(app, "client_accepted")) == 1
    cards.archive(app, ALEX, ref)
    assert cards.card(app, ALEX, ref)["status"] == "archived"
    assert len(audited(app, "client_archived")) == 1


def test_a_client_an_accountant_adds_is_theirs_and_checked_like_the_cli(
    world: tuple[App, dict[str, int]],
) -> None:
    app, _ids = world
    made = cards.add(app, SAM, "https://businesscentral.dynamics.com/tailspin.onmicrosoft.com",
                     {"name": "Tailspin", "access_link": "ignored"})  # fmt: skip
    assert made["owners"] == [SAM.email] and made["access_link"] is None
    assert [c["name"] for c in cards.access.clients_for(app, SAM, ClientQuery()).items] == [
        "Fabrikam", "Tailspin",
    ]  # fmt: skip
    for url in ("https://businesscentral.dynamics.com.evil.example/x", "not a url"):
        with pytest.raises(Refused):
            cards.add(app, SAM, url, {})
    assert len(audited(app, "client_added")) == 1


def test_the_export_is_what_the_viewer_sees_with_links_masked(
    world: tuple[App, dict[str, int]],
) -> None:
    app, _ids = world
    text, count = cards.export_csv(app, ALEX, ClientQuery(), address=None)
    assert count == 1 and "Contoso" in text and "Fabrikam" not in text and "SECRET77" not in text
    _text, everything = cards.export_csv(app, ADMIN, ClientQuery())
    assert everything == 2
    exported = audited(app, "clients_exported")
    assert [(actor, detail["count"]) for actor, _t, detail in exported] == [
        (ALEX.email, 1), (ADMIN.email, 2),
    ]  # fmt: skip
