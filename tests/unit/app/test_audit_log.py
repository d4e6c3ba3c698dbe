"""The audit log as admins read it: every action recorded by the use cases, newest first, a
page at a time, filtered by action; to anyone else it does not exist."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from acchub_mailbot.app import audit, cards
from acchub_mailbot.app.runtime import App
from acchub_mailbot.errors import NotFound
from tests.unit.app.dashboard_world import ADMIN, ALEX, LINK, open_world


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[App, dict[str, int]]]:
    yield from open_world(database_url)


def test_only_admins_read_it_newest_first_and_it_never_holds_the_link(
    world: tuple[App, dict[str, int]],
) -> None:
    app, ids = world
    ref = str(ids[ALEX.email])
    cards.reveal(app, ALEX, ref, address="192.0.2.9")
    cards.edit(app, ALEX, ref, {"access_link": LINK + "&new=1", "name": "Contoso 2"})
    with pytest.raises(NotFound):
        audit.audit_log(app, ALEX)
    log = audit.audit_log(app, ADMIN)
    assert [e["action"] for e in log.entries] == ["client_edited", "link_revealed"]
    assert log.entries[1]["address"] == "192.0.2.9" and log.entries[1]["actor"] == ALEX.email
    assert log.entries[0]["detail"] == {"fields": ["access_link", "name"]}
    assert "signupcode" not in repr(log)


def test_pages_of_a_hundred_and_the_action_filter(world: tuple[App, dict[str, int]]) -> None:
    app, _ids = world
    for n in range(audit.PAGE_SIZE + 5):
        audit.record(app, ALEX.email, audit.URL_TESTED, target=f"client {n}")
    audit.record(app, ADMIN.email, audit.SIGN_IN)
    first, second = audit.audit_log(app, ADMIN), audit.audit_log(app, ADMIN, page=2)
    assert (first.total, first.pages, len(first.entries), len(second.entries)) == (106, 2, 100, 6)
    assert first.entries[0]["action"] == "sign_in"
    assert {e["id"] for e in first.entries}.isdisjoint(e["id"] for e in second.entries)
    only = audit.audit_log(app, ADMIN, action=audit.SIGN_IN)
    assert [e["actor"] for e in only.entries] == [ADMIN.email]
    assert audit.audit_log(app, ADMIN, page=0).page == 1
    assert set(audit.ACTIONS) >= {"sign_in", "link_revealed", "poll_requested", "token_created"}
