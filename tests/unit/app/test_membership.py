"""The heartbeat's batched renewal over a real database (SQLite here, PostgreSQL in CI): the
leases and health of quietly polled mailboxes, in one statement each, and nothing else."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.app.membership import Membership, fair_share
from acchub_mailbot.config import parse_settings
from acchub_mailbot.store import leases
from acchub_mailbot.store.holders import new_instance_id
from acchub_mailbot.store.models import Instance, Lease, MailboxState, utcnow

OTHER = "other-host.example:4242:-:beef"


@pytest.fixture
def member(sessions: sessionmaker[Session]) -> Membership:
    settings = parse_settings({}, environ={})
    return Membership(settings, sessions, new_instance_id(), threading.Event())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def expiries(sessions: sessionmaker[Session]) -> dict[str, datetime]:
    with sessions() as session:
        return {lease.mailbox: _aware(lease.expires_at) for lease in session.scalars(select(Lease))}


def health(sessions: sessionmaker[Session]) -> dict[str, tuple[datetime | None, str | None]]:
    with sessions() as session:
        return {
            s.name: (s.last_success_at and _aware(s.last_success_at), s.last_error)
            for s in session.scalars(select(MailboxState))
        }


def claim_all(member: Membership, sessions: sessionmaker[Session], names: list[str]) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    with sessions.begin() as session:
        for name in names:
            session.add(MailboxState(name=name, last_success_at=long_ago))
    for name in names:
        assert isinstance(member.claim(name, len(names)), leases.Held)
    # Every lease a little older, so that a renewal shows.
    with sessions.begin() as session:
        for lease in session.scalars(select(Lease)):
            lease.expires_at = utcnow() + timedelta(seconds=30)


def test_a_beat_renews_the_quietly_polled_mailboxes_only(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    claim_all(member, sessions, ["a", "b", "c"])
    before, health_before = expiries(sessions), health(sessions)
    member.polled_quietly("a")
    member.polled_quietly("c")
    member.beat(["a", "b", "c"])
    after, health_after = expiries(sessions), health(sessions)
    assert after["a"] > before["a"] + timedelta(seconds=60)
    assert after["c"] > before["c"] + timedelta(seconds=60)
    assert after["b"] == before["b"]
    assert health_after["b"] == health_before["b"]
    assert health_after["a"][0] > health_before["a"][0]  # type: ignore[operator]
    assert set(member.renewed) >= {"a", "c"}

    # Each quiet poll is renewed once: the next beat renews nothing more.
    member.beat(["a", "b", "c"])
    assert expiries(sessions)["b"] == before["b"]


def test_a_failure_after_a_quiet_poll_keeps_its_error(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    claim_all(member, sessions, ["a"])
    member.polled_quietly("a")
    with sessions.begin() as session:
        state = session.get(MailboxState, "a")
        assert state is not None
        state.errors_since_success, state.last_error = 1, "connection refused"
    before = health(sessions)["a"]
    member.beat(["a"])
    assert health(sessions)["a"] == before


def test_a_lease_taken_over_is_not_renewed(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    claim_all(member, sessions, ["a"])
    member.polled_quietly("a")
    with sessions.begin() as session:
        lease = session.get(Lease, "a")
        assert lease is not None
        lease.holder, lease.token = OTHER, lease.token + 1
        leases.heartbeat(session, OTHER)
    before = expiries(sessions)["a"]
    member.beat(["a"])
    assert expiries(sessions)["a"] == before


def held_here(member: Membership, sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        rows = session.scalars(select(Lease).where(Lease.holder == member.instance_id))
        return {lease.mailbox for lease in rows if _aware(lease.expires_at) > utcnow()}


def test_a_beat_hands_the_excess_over_at_once_but_never_a_mailbox_being_polled(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    names = [f"box{i}" for i in range(7)]
    claim_all(member, sessions, names)
    handed: list[str] = []
    member.on_handed_over = handed.extend
    member.beat(names)
    assert member.over_share is False and not handed
    with sessions.begin() as session:
        leases.heartbeat(session, OTHER)  # a second live instance: this one's share is 3 or 4
    share = 4 if member.instance_id < OTHER else 3
    with member.polling("box5"), member.polling("box6"):
        member.beat(names)
        assert member.over_share is False
        assert {"box5", "box6"} <= held_here(member, sessions)
    assert len(held_here(member, sessions)) == share
    assert sorted(handed) == sorted(set(names) - held_here(member, sessions))
    assert set(member.held) == held_here(member, sessions)


def test_while_every_mailbox_is_being_polled_the_excess_waits(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    claim_all(member, sessions, ["a", "b"])
    with sessions.begin() as session:
        leases.heartbeat(session, OTHER)  # the share is one mailbox
    with member.polling("a"), member.polling("b"):
        member.beat(["a", "b"])
    assert member.over_share is True
    assert held_here(member, sessions) == {"a", "b"}
    member.beat(["a", "b"])
    assert member.over_share is False
    assert len(held_here(member, sessions)) == 1


def test_a_beat_short_of_its_share_wakes_only_as_many_free_mailboxes_as_it_lacks(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    names = [f"box{i}" for i in range(6)]
    with sessions.begin() as session:
        leases.heartbeat(session, OTHER)
        past = utcnow() - timedelta(seconds=1)
        for name in names:  # let go of by the other instance: free for anyone
            session.add(Lease(mailbox=name, holder=OTHER, token=1, expires_at=past))
    assert isinstance(member.claim("box0", len(names)), leases.Held)
    woken: list[str] = []
    member.on_orphan = woken.append
    member.beat(names)
    assert len(woken) == 2  # a share of three, one held
    assert set(woken) <= set(names) - {"box0"}
    for name in woken:
        assert isinstance(member.claim(name, len(names)), leases.Held)
    woken.clear()
    member.beat(names)
    assert woken == []  # at its share: nothing more to take


@pytest.mark.parametrize("mailboxes", [0, 1, 2, 3, 10, 1000, 1001, 1002])
@pytest.mark.parametrize("instances", [1, 2, 3, 7])
def test_shares_add_up_and_differ_by_at_most_one(mailboxes: int, instances: int) -> None:
    live = [f"host:{n}:x:y" for n in range(instances)]
    shares = [fair_share(mailboxes, live, me) for me in reversed(live)]
    assert sum(shares) == mailboxes
    assert max(shares) - min(shares) <= 1
    assert all(abs(share - mailboxes / instances) < 1 for share in shares)


def test_at_its_share_an_instance_refuses_other_mailboxes_without_the_database_until_short(
    member: Membership, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        leases.heartbeat(session, OTHER)  # two instances, two mailboxes: one each
    assert member.refused_at_once("a") is None  # nothing known yet: ask the database
    assert isinstance(member.claim("a", 2), leases.Held)
    assert member.refused_at_once("a") is None  # held here: always polled
    assert member.refused_at_once("b") == "this instance already polls its share (1 of 2)"
    with sessions.begin() as session:  # the other instance leaves
        session.execute(delete(Instance).where(Instance.id == OTHER))
    woken: list[str] = []
    member.on_orphan = woken.append
    member.beat(["a", "b"])
    assert member.refused_at_once("b") is None
    assert woken == []  # "b" has no lease yet: its own interval poll takes it
    assert isinstance(member.claim("b", 2), leases.Held)
