"""This instance among the others: heartbeats, its share of the mailboxes, and takeovers.

Every instance heartbeats every ``poll.heartbeat_seconds`` from a thread of its own, whatever
its polls are doing. A mailbox's lease is taken over at once when its holder is gone: a process
on this host that no longer runs (checked by PID and process start, so a reused PID does not
count as alive), or an instance on any host that missed three heartbeats. The lease's own expiry
stays the last resort. Fencing is unchanged: a holder that was wrongly given up on finds its
next write refused.

A mailbox whose poll found nothing new from its STATUS alone has its lease and health renewed
by the next heartbeat, in one statement for all of them: a thousand idle mailboxes cost one
write every few seconds, not one per poll.

Shares are exact: with ``n`` mailboxes and ``k`` live instances, the first ``n mod k``
instances (by id) take ``ceil(n / k)`` and the others ``floor(n / k)``, so every instance
ends within one of ``n / k``. The heartbeat settles shares at once: an instance over its share
hands the excess over in one statement (never a mailbox it is polling right now), and an
instance under its share wakes the polls of that many free mailboxes. A thousand mailboxes are
re-spread in a few heartbeats, not one mailbox per poll interval.

Waiting is visible: a mailbox held by another instance is logged once with the holder and the
lease's end, again when it is taken over, and recorded for ``status``. An instance that polls
nothing for three intervals says why.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.app.pollstate import touch_success_many
from acchub_mailbot.config import Settings
from acchub_mailbot.store import leases, pollrequests
from acchub_mailbot.store.holders import gone_here
from acchub_mailbot.store.models import utcnow

# The logger keeps the name the lease code logged under, which operators filter on.
log = logging.getLogger("acchub_mailbot.app")

HANDED_OVER = "handed over to another instance"
HELD_ELSEWHERE = "held by another instance"


def fair_share(mailboxes: int, live: Sequence[str], me: str) -> int:
    """How many mailboxes ``me`` should hold among the ``live`` instances.

    The first ``mailboxes mod len(live)`` instances in id order take one more than the others,
    so the shares add up to ``mailboxes`` exactly and differ by at most one.
    """
    ranked = sorted(live)
    base, extra = divmod(mailboxes, len(ranked))
    return base + (1 if ranked.index(me) < extra else 0)


def _at_share(mine: int, enabled: int) -> str:
    return f"this instance already polls its share ({mine} of {enabled})"


def _clock(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


class Membership:
    """The leases this process holds and the heartbeat that keeps other instances informed."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        instance_id: str,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.instance_id = instance_id
        self.stop = stop
        self.held: dict[str, leases.Held] = {}
        self.waiting: dict[str, str] = {}
        #: Called with a mailbox's name when its holder is gone or someone asked for a poll
        #: of a mailbox held here, so its poll can run now.
        self.on_orphan: Callable[[str], None] | None = None
        self.last_polled = time.monotonic()
        self._idle_reason: str | None = None
        #: When each held lease was last renewed (monotonic), by a poll or by a heartbeat.
        self.renewed: dict[str, float] = {}
        #: Whether this instance holds more leases than its fair share.
        self.over_share = False
        #: Called with the mailboxes a heartbeat handed over, so their IDLE can stop.
        self.on_handed_over: Callable[[list[str]], None] | None = None
        self._quiet: set[str] = set()
        self._busy: set[str] = set()
        #: Held mailboxes someone asked to poll now ("poll now" in the dashboard): their next
        #: poll takes the full path, whatever STATUS says.
        self.asked: set[str] = set()
        #: Why this instance takes no more mailboxes, as of the last claim or heartbeat; None
        #: while it is short of its share.
        self._full: str | None = None
        self._lock = threading.Lock()
        self._claim_lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.poll.lease_ttl)

    @property
    def window(self) -> timedelta:
        """Silence after which another instance counts as dead."""
        return timedelta(seconds=self.settings.poll.missed_heartbeats)

    def gone(self, session: Session, now: datetime) -> dict[str, str]:
        """Holders of live leases that are gone, each with the reason, for the log."""
        silent = leases.silent_holders(session, self.window, now)
        found: dict[str, str] = {}
        for holder in leases.live_holders(session, now):
            if holder == self.instance_id:
                continue
            if gone_here(holder, own_id=self.instance_id):
                found[holder] = "its process no longer runs on this host"
            elif holder in silent:
                beat = silent[holder]
                found[holder] = (
                    f"no heartbeat since {_clock(beat)}" if beat else "it never heartbeat"
                )
        return found

    def _share(
        self, session: Session, now: datetime, enabled: int, gone: dict[str, str]
    ) -> tuple[int, int]:
        """This instance's exact share and the number of live instances."""
        me = self.instance_id
        live = [
            i
            for i in leases.live_instances(session, self.window, now)
            if i not in gone and not gone_here(i, own_id=me)
        ]
        if me not in live:
            live.append(me)
        return fair_share(enabled, live, me), len(live)

    @contextlib.contextmanager
    def polling(self, mailbox: str) -> Iterator[None]:
        """Mark a poll as running, so a heartbeat never hands its mailbox over mid-poll."""
        with self._lock:
            self._busy.add(mailbox)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(mailbox)

    def refused_at_once(self, mailbox: str) -> str | None:
        """Why a mailbox this instance does not hold need not be claimed: it holds its share.

        Answered from the last claim or heartbeat, without the database, so that an instance
        among several does not spend a transaction on each of the others' mailboxes at every
        interval. A heartbeat that finds this instance short of its share (another instance
        left or a lease was let go of) clears it and wakes the polls of free mailboxes.
        """
        with self._lock:
            return self._full if mailbox not in self.held else None

    def polled_quietly(self, mailbox: str) -> None:
        """A poll found nothing new without the database: the next heartbeat renews it."""
        with self._lock:
            self._quiet.add(mailbox)

    def claim(self, mailbox: str, enabled: int) -> leases.Held | str:
        """Take this mailbox's lease if it is free (or its holder gone) and within this
        instance's fair share; else say why not.

        Each live instance takes at most its exact share (see the module's docstring); one
        holding more (because others started later) hands this mailbox over when it polls it,
        and the heartbeat hands the rest over.
        """
        me = self.instance_id
        # One claim at a time per process, so that two poll threads cannot both take the
        # last lease of this instance's share.
        with self._claim_lock, self.sessions.begin() as session:
            now = utcnow()
            leases.heartbeat(session, me, now)
            gone = self.gone(session, now)
            share, live = self._share(session, now, enabled, gone)
            mine = leases.count_held(session, me, now)
            current = self.held.get(mailbox)
            if current is not None and mine > share:
                leases.release(session, current)
                with self._lock:
                    self.held.pop(mailbox, None)
                self._note_full(mine - 1, share, enabled)
                log.info(
                    "mailbox=%s handed over: %d live instances share %d mailboxes",
                    mailbox,
                    live,
                    enabled,
                )
                return HANDED_OVER
            row = leases.lease_of(session, mailbox)
            other = row is not None and row.holder != me and row.expires_at > now
            previous = row.holder if row is not None and other else None
            until = row.expires_at if row is not None else None
            full = current is None and mine >= share
            if full and (previous is None or previous in gone):
                self._note_full(mine, share, enabled)
                return _at_share(mine, enabled)
            # At its share, a mailbox held by a live instance is still waited for (and said
            # so), but not taken.
            held = (
                None
                if full
                else leases.acquire(session, mailbox, me, self.ttl, now, gone=gone.keys())
            )
            self._note_full(mine + (held is not None and current is None), share, enabled)
        if held is None:
            with self._lock:
                self.held.pop(mailbox, None)
                first = self.waiting.get(mailbox) != previous
                if previous is not None:
                    self.waiting[mailbox] = previous
            if first and previous is not None:
                self._record_waiting()
            if first and previous is not None and until is not None:
                log.info(
                    "mailbox=%s is polled by %s (lease until %s); this instance waits for it",
                    mailbox,
                    previous,
                    _clock(until),
                )
            return HELD_ELSEWHERE
        with self._lock:
            self.held[mailbox] = held
            waited = self.waiting.pop(mailbox, None)
        if waited is not None:
            self._record_waiting()
        if previous is not None:
            log.warning(
                "mailbox=%s taken over from %s: %s", mailbox, previous, gone.get(previous, "")
            )
        elif waited is not None:
            log.info("mailbox=%s taken over from %s: its lease ended", mailbox, waited)
        return held

    def _note_full(self, mine: int, share: int, enabled: int) -> None:
        with self._lock:
            self._full = _at_share(mine, enabled) if mine >= share else None

    def _record_waiting(self) -> None:
        """Write the mailboxes waited for at once, not only at the next heartbeat."""
        with self._lock:
            waiting = dict(self.waiting)
        try:
            with self.sessions.begin() as session:
                leases.set_waiting(session, self.instance_id, waiting)
        except Exception as exc:  # the next heartbeat writes it again
            log.debug("could not record the mailboxes waited for: %s", exc)

    def drop(self, mailbox: str) -> None:
        with self._lock:
            self.held.pop(mailbox, None)

    def release_all(self) -> None:
        """Give every lease back and leave, so other instances take over at once."""
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            held, self.held = list(self.held.values()), {}
        with self.sessions.begin() as session:
            for lease in held:
                leases.release(session, lease)
            leases.forget_instance(session, self.instance_id)

    # -- the heartbeat thread ---------------------------------------------------------------

    def start(self, mailboxes: Callable[[], list[str]]) -> None:
        """Start heartbeating (once); ``mailboxes`` names the mailboxes this instance polls."""
        with self._lock:
            if self._thread is not None or self._halt.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, args=(mailboxes,), name="acchub-heartbeat", daemon=True
            )
        self._thread.start()

    def _run(self, mailboxes: Callable[[], list[str]]) -> None:
        while not self._halt.wait(self.settings.poll.heartbeat_seconds):
            if self.stop.is_set():
                return
            try:
                self.beat(mailboxes())
            except Exception as exc:  # a database hiccup: the next heartbeat tries again
                log.warning("heartbeat failed, tried again shortly: %s", exc)

    def beat(self, mailboxes: list[str]) -> list[str]:
        """Heartbeat once; returns (and hands to ``on_orphan``) mailboxes whose holder is gone.

        Also renews the leases and health of the mailboxes polled quietly since the last beat.
        """
        with self._lock:
            quiet, self._quiet = self._quiet, set()
            waiting = dict(self.waiting)
        with self.sessions.begin() as session:
            now = utcnow()
            leases.heartbeat(session, self.instance_id, now)
            leases.set_waiting(session, self.instance_id, waiting)
            renewed = leases.renew(session, self.instance_id, quiet, self.ttl, now)
            touch_success_many(session, renewed, now)
            gone = self.gone(session, now)
            share, live = self._share(session, now, len(mailboxes), gone)
            mine = leases.count_held(session, self.instance_id, now)
            handed = self._hand_over(session, mine - share)
            with self._lock:
                held = set(self.held) - set(handed)
            # The table holds a row only while a request waits, so it is read whole: no list of
            # a thousand held names in the query on every heartbeat.
            asked = sorted((set(pollrequests.waiting(session)) & held) - self.asked)
            orphans: list[str] = []
            if mine < share:
                enabled = set(mailboxes)
                free = [
                    name
                    for name in leases.up_for_grabs(session, self.instance_id, gone, now)
                    if name in enabled
                ]
                # As many as this instance lacks, in a different order on each instance, so
                # that instances short of their share do not all race for the same ones.
                random.shuffle(free)
                orphans = free[: share - mine]
        stamp = time.monotonic()
        self._note_full(mine - len(handed), share, len(mailboxes))
        with self._lock:
            self.over_share = mine - len(handed) > share
            for name in renewed:
                self.renewed[name] = stamp
            self.asked.update(asked)
        if handed:
            log.info(
                "handed %d mailbox(es) over: %d live instances share %d mailboxes, "
                "this instance's share is %d",
                len(handed),
                live,
                len(mailboxes),
                share,
            )
            if self.on_handed_over is not None:
                self.on_handed_over(handed)
        if self.on_orphan is not None:
            for name in [*orphans, *asked]:
                self.on_orphan(name)
        self._warn_when_idle(mailboxes, waiting)
        return orphans

    def _hand_over(self, session: Session, excess: int) -> list[str]:
        """Release ``excess`` leases this instance holds and is not polling right now."""
        if excess <= 0:
            return []
        with self._lock:
            idle = sorted(name for name in self.held if name not in self._busy)
            chosen = [self.held.pop(name) for name in idle[-excess:]]
        for lease in chosen:
            leases.release(session, lease)
        return [lease.mailbox for lease in chosen]

    def _warn_when_idle(self, mailboxes: list[str], waiting: dict[str, str]) -> None:
        quiet = time.monotonic() - self.last_polled
        if quiet <= 3 * self.settings.poll.interval_seconds:
            self._idle_reason = None
            return
        if not mailboxes:
            reason = "no mailbox is enabled"
        elif waiting:
            reason = "its mailboxes are held by other instances: " + ", ".join(
                f"{name} by {holder}" for name, holder in sorted(waiting.items())
            )
        else:
            reason = "the other live instances poll their share of the mailboxes"
        if reason != self._idle_reason:
            self._idle_reason = reason
            log.warning("this instance has polled no mailbox for %d s: %s", quiet, reason)
