"""The long-running service: APScheduler runs each mailbox's poll and the digest schedule.

Each mailbox has its own interval job with ``max_instances=1`` and ``coalesce=True``, so a slow
poll is never overlapped by the next one and missed runs collapse into one. Delivery is one
thread of its own, run after a poll queued something and once per interval: however many
mailboxes an instance polls, it sends its outbox from one place, and each mail by claim.
SIGTERM and SIGINT stop the scheduler after the running jobs finish; a second signal exits at
once (safe, because every message's state is committed step by step).

With ``poll.idle``, IDLE follows the lease: a mailbox is watched while this instance holds it
and dropped when a poll finds another instance holding it, so however many instances run,
each mailbox has one IDLE connection.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import MailboxSettings
from acchub_mailbot.mail.idle import IdleHub
from acchub_mailbot.service.health import HealthServer

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.service")

Holding = Callable[[MailboxSettings, bool], None]


def _poll_job(
    app: App,
    mailbox: MailboxSettings,
    deliver: Callable[[], None],
    holding: Holding | None = None,
) -> None:
    if app.stop.is_set():
        return
    report = app.poll(mailbox)
    if app.stop.is_set():
        return
    if holding is not None:
        holding(mailbox, report.skipped is None)
    if report.quiet:
        return  # nothing new: no digest to prepare, nothing queued to deliver
    if app.settings.digest.schedule == "immediate":
        app.prepare_digests(name=mailbox.name)
    if report.fetched or report.error is None:
        # What the poll queued (digests, replies to forwarders) goes out in this cycle's
        # delivery run; failed sends are retried by it too.
        deliver()


class Wakes:
    """Runs a mailbox's poll now when IDLE or a heartbeat asks, or once more right after the
    poll already running: never asks APScheduler for a second run at once, which it would
    refuse with a warning."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.scheduler: BlockingScheduler | None = None
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def wake(self, mailbox: MailboxSettings) -> None:
        with self._lock:
            if mailbox.name in self._running:
                self._again.add(mailbox.name)
                return
        if self.scheduler is not None:
            _run_now(self.scheduler, self.app, f"poll:{mailbox.name}")

    def run(self, mailbox: MailboxSettings, poll: Callable[[], None]) -> None:
        name = mailbox.name
        with self._lock:
            self._running.add(name)
        try:
            while True:
                poll()
                with self._lock:
                    if name not in self._again or self.app.stop.is_set():
                        return
                    self._again.discard(name)
        finally:
            with self._lock:
                self._running.discard(name)
                self._again.discard(name)


class Delivery:
    """The instance's one delivery run, on a thread of its own: never two at once, whatever
    the number of mailboxes.

    A poll that queued mail asks for a run; requests during a run make it go round once more.
    It also runs once per interval, for retries. Kept out of APScheduler because a thousand
    polls asking for one job to run now would each be refused with a warning.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        self._due.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="acchub-deliver", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._due.set()  # wakes the thread, which sees the stop flag
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        interval = self.app.settings.poll.interval_seconds
        while True:
            self._due.wait(interval)
            if self.app.stop.is_set():
                return
            self._due.clear()
            try:
                self.app.deliver()
            except Exception:  # a database hiccup: the next run tries again
                log.exception("delivery run failed; it runs again within %d s", interval)


def _digest_job(app: App) -> None:
    if not app.stop.is_set():
        app.send_digests()


def build_scheduler(
    app: App, delivery: Delivery, wakes: Wakes, idle: IdleHub | None = None
) -> BlockingScheduler:
    settings = app.settings
    workers = max(1, min(8, len(app.mailboxes())))
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=ZoneInfo(settings.digest.timezone),
    )
    wakes.scheduler = scheduler
    holding: Holding | None = None
    if idle is not None:
        hub = idle

        def holding(mailbox: MailboxSettings, held: bool) -> None:
            if held:
                hub.watch(mailbox, functools.partial(wakes.wake, mailbox))
            else:
                hub.unwatch(mailbox.name)

        def handed_over(names: list[str]) -> None:
            for name in names:
                hub.unwatch(name)

        app.membership.on_handed_over = handed_over

    for mailbox in app.mailboxes():
        scheduler.add_job(
            wakes.run,
            IntervalTrigger(seconds=settings.poll.interval_seconds),
            args=(
                mailbox,
                functools.partial(_poll_job, app, mailbox, delivery.request, holding),
            ),
            id=f"poll:{mailbox.name}",
            name=f"poll {mailbox.name}",
            next_run_time=datetime.now(ZoneInfo(settings.digest.timezone)),
        )
    if settings.digest.schedule != "immediate":
        scheduler.add_job(
            _digest_job,
            CronTrigger.from_crontab(settings.digest.schedule, timezone=settings.digest.timezone),
            args=(app,),
            id="digest",
            name="digest",
        )

    def on_error(event: JobExecutionEvent) -> None:
        log.error("job %s raised %r; it runs again at its next time", event.job_id, event.exception)

    scheduler.add_listener(on_error, EVENT_JOB_ERROR)
    return scheduler


def _run_now(scheduler: BlockingScheduler, app: App, job_id: str) -> None:
    """Run a job now (coalesced with a run already going or due)."""
    if app.stop.is_set():
        return
    with contextlib.suppress(JobLookupError):  # the job is gone while shutting down
        scheduler.modify_job(
            job_id, next_run_time=datetime.now(ZoneInfo(app.settings.digest.timezone))
        )


def run_service(app: App) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    idle = (
        IdleHub(app.stop, watchdog_seconds=app.settings.poll.idle_watchdog_seconds)
        if app.settings.poll.idle
        else None
    )
    delivery, wakes = Delivery(app), Wakes(app)
    scheduler = build_scheduler(app, delivery, wakes, idle)
    signals_seen = 0
    delivery.start()
    closers: list[Callable[[], None]] = [delivery.close]
    if app.settings.http.enabled:
        server = HealthServer(
            app.settings.http.host, app.settings.http.port, app.metrics, app.health
        )
        server.start()
        closers.append(server.stop)
    if app.settings.web.enabled:
        from acchub_mailbot.web.serve import BackgroundWeb

        dashboard = BackgroundWeb(app)
        dashboard.start()
        closers.append(dashboard.stop)
    if idle is not None:
        # Mailboxes are watched once this instance holds them, after their first poll, and
        # dropped when a poll or a heartbeat finds them held elsewhere (see build_scheduler).
        idle.start()
        closers.append(idle.close)

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.warning("second signal: exiting now")
            os._exit(130)
        log.info(
            "signal %s: finishing the current work, then stopping", signal.Signals(signum).name
        )
        app.stop.set()
        scheduler.shutdown(wait=False)

    by_name = {m.name: m for m in app.mailboxes()}

    def orphaned(name: str) -> None:
        if name in by_name:
            wakes.wake(by_name[name])

    # A mailbox whose holder died is polled as soon as a heartbeat notices, not at the next
    # interval; the heartbeat runs from the start, before this instance holds anything.
    app.membership.on_orphan = orphaned
    app.membership.start(lambda: [m.name for m in app.mailboxes()])
    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, stop)
    log.info(
        "acchub-mailbot started: %d mailbox(es), poll every %ds, digest %s",
        len(app.mailboxes()),
        app.settings.poll.interval_seconds,
        app.settings.digest.schedule,
    )
    try:
        scheduler.start()
    finally:
        app.stop.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for close in closers:
            close()
    log.info("acchub-mailbot stopped")
    return 0
