"""The long-running service: APScheduler runs each mailbox's poll and the digest schedule.

Each mailbox has its own interval job with ``max_instances=1`` and ``coalesce=True``, so a slow
poll is never overlapped by the next one and missed runs collapse into one. SIGTERM and SIGINT
stop the scheduler after the running jobs finish; a second signal exits at once (safe, because
every message's state is committed step by step).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
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
from acchub_mailbot.mail.idle import IdleWatcher
from acchub_mailbot.service.health import HealthServer

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.service")


def _poll_job(app: App, mailbox: MailboxSettings) -> None:
    if app.stop.is_set():
        return
    report = app.poll(mailbox)
    if app.settings.digest.schedule == "immediate" and not app.stop.is_set():
        app.send_digests(name=mailbox.name)
    elif report.error is None:
        # Digests that failed to send earlier are retried after every successful poll.
        app.send_digests(name=mailbox.name)


def _digest_job(app: App) -> None:
    if not app.stop.is_set():
        app.send_digests()


def build_scheduler(app: App) -> BlockingScheduler:
    settings = app.settings
    workers = max(1, min(8, len(app.mailboxes())))
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=ZoneInfo(settings.digest.timezone),
    )
    for mailbox in app.mailboxes():
        scheduler.add_job(
            _poll_job,
            IntervalTrigger(seconds=settings.poll.interval_seconds),
            args=(app, mailbox),
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


def _wake(scheduler: BlockingScheduler, app: App, mailbox: MailboxSettings) -> None:
    """Run the mailbox's poll now (coalesced with one already running or due)."""
    if app.stop.is_set():
        return
    with contextlib.suppress(JobLookupError):  # the job is gone while shutting down
        scheduler.modify_job(
            f"poll:{mailbox.name}",
            next_run_time=datetime.now(ZoneInfo(app.settings.digest.timezone)),
        )


def run_service(app: App) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    scheduler = build_scheduler(app)
    signals_seen = 0
    extras: list[Any] = []
    if app.settings.http.enabled:
        server = HealthServer(
            app.settings.http.host, app.settings.http.port, app.metrics, app.health
        )
        server.start()
        extras.append(server)
    if app.settings.poll.idle:
        for mailbox in app.mailboxes():
            watcher = IdleWatcher(
                mailbox,
                functools.partial(_wake, scheduler, app, mailbox),
                app.stop,
                watchdog_seconds=app.settings.poll.idle_watchdog_seconds,
            )
            watcher.start()

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
        for extra in extras:
            extra.stop()
    log.info("acchub-mailbot stopped")
    return 0
