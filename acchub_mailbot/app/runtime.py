"""Composition root: builds the engine, the URL checker and the jobs from one Settings value.

The CLI and the scheduler call these methods; nothing below them reads global state.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.app import verification
from acchub_mailbot.app.delivery import deliver_confirmations, deliver_pending, prepare_digest
from acchub_mailbot.app.digest_schedule import digest_due
from acchub_mailbot.app.membership import Membership
from acchub_mailbot.app.metrics import Metrics, mailbox_is_healthy
from acchub_mailbot.app.poll import poll_mailbox
from acchub_mailbot.app.pollstate import (
    Fencing,
    PollReport,
    next_work_at,
    record_poll_error,
    touch_success,
)
from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.errors import DatabaseUnavailable, MailboxUnavailable
from acchub_mailbot.handlers.base import Handler
from acchub_mailbot.mail.inbox import NETWORK_ERRORS, Inbox
from acchub_mailbot.mail.sifting import Sifter
from acchub_mailbot.store import leases, pollrequests
from acchub_mailbot.store.database import (
    OPEN_ERRORS,
    make_engine,
    migrate,
    open_problem,
    session_factory,
)
from acchub_mailbot.store.holders import new_instance_id
from acchub_mailbot.store.models import utcnow
from acchub_mailbot.verify.urlcheck import (
    LiveChecker,
    LiveCheckSettings,
    VerificationResult,
)

if TYPE_CHECKING:
    from acchub_mailbot.sso.oidc import OidcProvider

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.app")


def live_check_settings(settings: Settings) -> LiveCheckSettings:
    v = settings.verification
    return LiveCheckSettings(
        timeout_seconds=v.timeout_seconds,
        max_bytes=v.max_bytes,
        allow_networks=tuple(v.allow_networks),
        ca_file=str(v.ca_file) if v.ca_file else None,
    )


@dataclass
class App:
    settings: Settings
    sessions: sessionmaker[Session]
    stop: threading.Event = field(default_factory=threading.Event)
    instance_id: str = field(default_factory=new_instance_id)
    _checker: LiveChecker | None = None
    handlers: tuple[Handler, ...] | None = None
    metrics: Metrics = field(default_factory=Metrics)
    started_at: datetime = field(default_factory=utcnow)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _inboxes: dict[str, Inbox] = field(default_factory=dict)
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    _next_work: dict[str, datetime | None] = field(default_factory=dict)
    _sifter: Sifter | None = None
    #: Where relative paths of the config are read from (token stores): its file's folder.
    config_dir: Path = field(default_factory=Path.cwd)
    #: The single sign-on provider's client (``web.oidc``), made at the first sign-in.
    sign_on: OidcProvider | None = None
    membership: Membership = field(init=False)

    def __post_init__(self) -> None:
        self.membership = Membership(self.settings, self.sessions, self.instance_id, self.stop)

    @classmethod
    def open(cls, settings: Settings, *, migrate_schema: bool = True) -> App:
        """Connect and migrate; a database that cannot be opened raises DatabaseUnavailable."""
        try:
            engine = make_engine(settings.database.url)
            if migrate_schema:
                migrate(engine)
        except OPEN_ERRORS as exc:
            raise DatabaseUnavailable(open_problem(settings.database.url, exc)) from None
        return cls(settings, session_factory(engine))

    def dispose(self) -> None:
        """Close pooled database connections; harmless after ``close`` and when repeated."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()

    @property
    def checker(self) -> LiveChecker:
        if self._checker is None:
            self._checker = LiveChecker(live_check_settings(self.settings))
        return self._checker

    @property
    def sifter(self) -> Sifter:
        """Runs the prefilter of big fetches in worker processes (``poll.prefilter_workers``)."""
        with self._lock:
            if self._sifter is None:
                self._sifter = Sifter(self.settings.poll.workers)
            return self._sifter

    def close(self) -> None:
        """Release this process's leases so other instances take over at once."""
        try:
            self.membership.release_all()
        except Exception as exc:
            log.warning("could not release leases on shutdown: %s", exc)
        for name in list(self._inboxes):
            self._drop_connection(name)
        if self._checker is not None:
            self._checker.close()
        if self._sifter is not None:
            self._sifter.close()
        if self.sign_on is not None:
            self.sign_on.close()
        self.dispose()

    # -- polling -------------------------------------------------------------------------

    def mailboxes(self, name: str | None = None) -> list[MailboxSettings]:
        if name is not None:
            return [self.settings.mailbox(name)]
        return [m for m in self.settings.mailboxes if m.enabled]

    @property
    def lease_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.poll.lease_ttl)

    def _claim(self, mailbox: MailboxSettings) -> leases.Held | str:
        held = self.membership.claim(mailbox.name, len(self.mailboxes()))
        if not isinstance(held, str):
            self.membership.start(lambda: [m.name for m in self.mailboxes()])
        return held

    def _connection(self, mailbox: MailboxSettings) -> Inbox:
        """This mailbox's kept-open IMAP connection (opened on first use)."""
        with self._lock:
            inbox = self._inboxes.get(mailbox.name)
        if inbox is None:
            inbox = Inbox(mailbox.imap, mailbox=mailbox.name)
            inbox.connect()
            with self._lock:
                self._inboxes[mailbox.name] = inbox
        return inbox

    def _drop_connection(self, name: str) -> None:
        with self._lock:
            inbox = self._inboxes.pop(name, None)
            self._seen.pop(name, None)
        if inbox is not None:
            inbox.close()

    def _nothing_new(self, mailbox: MailboxSettings, held: leases.Held) -> bool:
        """True when STATUS shows no change since the last full poll and no retry is due; then
        only the lease and the health timestamps are renewed."""
        seen = self._seen.get(mailbox.name)
        inbox = self._inboxes.get(mailbox.name)
        if seen is None or inbox is None or mailbox.name in self.membership.asked:
            return False
        current, uidvalidity = inbox.status(), seen[0]
        if current != seen:
            return False
        due = next_work_at(self.sessions, mailbox, uidvalidity)
        self._next_work[mailbox.name] = due
        if due is not None and due <= utcnow():
            return False
        with self.sessions.begin() as session:
            leases.fence(session, held, self.lease_ttl)
            touch_success(session, mailbox)
        self.membership.renewed[mailbox.name] = time.monotonic()
        return True

    @property
    def _renew_period(self) -> float:
        """How long a lease may go unrenewed before a poll takes the full path again: half the
        lease. A quiet poll's lease is renewed by the next heartbeat, seconds later."""
        return max(1.0, self.lease_ttl.total_seconds() / 2)

    def _quick_nothing_new(self, mailbox: MailboxSettings) -> bool:
        """The cheapest answer: an open connection's STATUS unchanged, the lease renewed
        recently, no retry due, and no excess lease to hand over. No database access at all;
        the heartbeat renews the lease and the health timestamps afterwards."""
        name = mailbox.name
        inbox, seen = self._inboxes.get(name), self._seen.get(name)
        if name not in self.membership.held or inbox is None or seen is None:
            return False
        if name in self.membership.asked:
            return False
        if self.membership.over_share:
            return False
        if time.monotonic() - self.membership.renewed.get(name, 0.0) >= self._renew_period:
            return False
        due = self._next_work.get(name)
        if due is not None and due <= utcnow():
            return False
        try:
            quiet = inbox.status() == seen
        except NETWORK_ERRORS:
            self._drop_connection(name)
            return False
        if quiet:
            self.membership.polled_quietly(name)
        return quiet

    def poll(self, mailbox: MailboxSettings) -> PollReport:
        """Poll one mailbox; IMAP faults are logged and reported, never raised."""
        with self.membership.polling(mailbox.name):
            return self._poll(mailbox)

    def _poll(self, mailbox: MailboxSettings) -> PollReport:
        started = time.monotonic()
        if self._quick_nothing_new(mailbox):
            self.membership.last_polled = time.monotonic()
            report = PollReport(mailbox.name, seconds=time.monotonic() - started, quiet=True)
            self.metrics.polls.labels(mailbox.name, "ok").inc()
            return report
        claim = self.membership.refused_at_once(mailbox.name) or self._claim(mailbox)
        if isinstance(claim, str):
            log.debug("mailbox=%s not polled here: %s", mailbox.name, claim)
            self._drop_connection(mailbox.name)
            return PollReport(mailbox.name, skipped=claim)
        self.membership.last_polled = time.monotonic()
        recorded = False  # poll_mailbox records its own IMAP faults in the mailbox's state
        try:
            inbox = self._connection(mailbox)
            if self._nothing_new(mailbox, claim):
                report = PollReport(mailbox.name, seconds=time.monotonic() - started)
                self.metrics.polls.labels(mailbox.name, "ok").inc()
                self.metrics.poll_duration.labels(mailbox.name).observe(report.seconds)
                return report
            # Read before the poll: the poll sees every message below this UIDNEXT, and mail
            # that arrives during it raises UIDNEXT, so the next check differs and polls it.
            before, began = inbox.status(), utcnow()
            recorded = True
            report = poll_mailbox(
                self.sessions,
                self.settings,
                mailbox,
                stop=self.stop,
                fencing=Fencing(claim, self.lease_ttl),
                handlers=self.handlers,
                inbox=inbox,
                sifter=self.sifter,
            )
            recorded = False
            self._seen[mailbox.name] = before
            self.membership.asked.discard(mailbox.name)  # it answers every "poll now" before it
            with self.sessions.begin() as session:
                pollrequests.answered(session, mailbox.name, began)
            self._next_work[mailbox.name] = next_work_at(self.sessions, mailbox, None)
            self.membership.renewed[mailbox.name] = time.monotonic()
        except MailboxUnavailable as exc:
            self._drop_connection(mailbox.name)
            if not recorded:
                record_poll_error(self.sessions, mailbox, str(exc))
            log.error("mailbox=%s poll failed, retried at the next interval: %s", mailbox.name, exc)
            self.metrics.polls.labels(mailbox.name, "error").inc()
            self.metrics.failures.labels(mailbox.name, "imap").inc()
            return PollReport(mailbox.name, error=str(exc))
        except NETWORK_ERRORS as exc:
            self._drop_connection(mailbox.name)
            error = f"mailbox {mailbox.name}: connection lost ({type(exc).__name__}: {exc})"
            if not recorded:
                record_poll_error(self.sessions, mailbox, error)
            log.error(
                "mailbox=%s poll failed, retried at the next interval: %s", mailbox.name, error
            )
            self.metrics.polls.labels(mailbox.name, "error").inc()
            self.metrics.failures.labels(mailbox.name, "imap").inc()
            return PollReport(mailbox.name, error=error)
        except leases.LeaseLost as exc:
            self._drop_connection(mailbox.name)
            log.warning("mailbox=%s: %s; another instance polls it now", mailbox.name, exc)
            self.membership.drop(mailbox.name)
            return PollReport(mailbox.name, skipped=str(exc))
        self._count(report)
        if self.settings.verification.live_check:
            self.verify_pending()
        log.info(
            "mailbox=%s poll done: %d fetched, %d new clients, %s (%.2fs)",
            mailbox.name,
            report.fetched,
            report.registered,
            ", ".join(f"{k}={v}" for k, v in sorted(report.verdicts.items())) or "nothing new",
            report.seconds,
        )
        return report

    def _count(self, report: PollReport) -> None:
        m, name = self.metrics, report.mailbox
        m.polls.labels(name, "ok").inc()
        m.poll_duration.labels(name).observe(report.seconds)
        for verdict, count in report.verdicts.items():
            m.messages.labels(name, verdict).inc(count)
        if report.registered:
            m.registrations.labels(name).inc(report.registered)
        if report.failed:
            m.failures.labels(name, "message").inc(report.failed)
        if report.quarantined:
            m.failures.labels(name, "quarantined").inc(report.quarantined)

    def health(self) -> dict[str, object]:
        """Per-mailbox health for ``/healthz`` and ``status``: recent success, errors, holder."""
        from acchub_mailbot.store.models import MailboxState

        now = utcnow()
        interval = self.settings.poll.interval_seconds
        rows = []
        with self.sessions() as session:
            holders = {lease.mailbox: lease for lease in leases.holders(session)}
            for mailbox in self.mailboxes():
                state = session.get(MailboxState, mailbox.name)
                last_ok = state.last_success_at if state else None
                lease = holders.get(mailbox.name)
                rows.append(
                    {
                        "mailbox": mailbox.name,
                        "healthy": mailbox_is_healthy(last_ok, self.started_at, interval, now),
                        "last_success_at": last_ok,
                        "last_error": state.last_error if state else None,
                        "errors_since_success": state.errors_since_success if state else 0,
                        "held_by": lease.holder if lease and lease.expires_at > now else None,
                    }
                )
        return {"healthy": all(r["healthy"] for r in rows), "mailboxes": rows}

    def poll_all(self, name: str | None = None) -> list[PollReport]:
        return [self.poll(m) for m in self.mailboxes(name)]

    # -- verification ----------------------------------------------------------------------

    def verify_pending(self, limit: int = 50) -> int:
        """Run "Test client URL" for clients waiting for it; returns how many were checked."""
        return verification.verify_pending(self.sessions, self.settings, self.checker, limit)

    def record_verification(
        self, client_id: int, result: VerificationResult, *, actor: str
    ) -> None:
        """Write a URL test on the client card, and the digest news it makes."""
        verification.record_verification(self.sessions, self.settings, client_id, result, actor)

    # -- digests ---------------------------------------------------------------------------

    def digest_due(self, mailbox: MailboxSettings, now: datetime) -> bool:
        return digest_due(self.sessions, self.settings, mailbox, now)

    def prepare_digests(self, *, force: bool = False, name: str | None = None) -> None:
        """Render the digests that are due (all, with ``force``) into the outbox."""
        now = utcnow()
        for mailbox in self.mailboxes(name):
            if force or self.digest_due(mailbox, now):
                prepare_digest(self.sessions, self.settings, mailbox, now=now)

    def deliver(self, *, force: bool = False) -> list[str]:
        """Send what the outbox holds, each mail by whichever sender claims it: digests, then
        the replies to forwarders. Returns where each digest went."""
        now = utcnow()
        claimer = self.instance_id
        sent = deliver_pending(
            self.sessions, self.settings, claimer=claimer, now=now, ignore_backoff=force
        )
        deliver_confirmations(
            self.sessions, self.settings, claimer=claimer, now=now, ignore_backoff=force
        )
        return sent

    def send_digests(self, *, force: bool = False, name: str | None = None) -> list[str]:
        """Prepare the digests that are due, then deliver everything pending once."""
        self.prepare_digests(force=force, name=name)
        return self.deliver(force=force)

    def run_once(self) -> list[PollReport]:
        reports = self.poll_all()
        self.send_digests()
        return reports
