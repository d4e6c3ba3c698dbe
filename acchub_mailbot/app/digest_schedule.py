"""When a mailbox's digest is due: ``digest.schedule`` is ``immediate`` or a crontab line."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from acchub_mailbot.config import MailboxSettings, Settings
from acchub_mailbot.store.models import Digest, Event


def digest_due(
    sessions: sessionmaker[Session], settings: Settings, mailbox: MailboxSettings, now: datetime
) -> bool:
    """Immediate: whenever there is news. Cron: when a fire time passed since the last one."""
    schedule = settings.digest.schedule
    with sessions() as session:
        pending_events = session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.mailbox == mailbox.name, Event.digest_id.is_(None))
        )
        if schedule == "immediate":
            return bool(pending_events) or settings.digest.send_empty
        last = session.scalar(
            select(func.max(Digest.created_at)).where(Digest.mailbox == mailbox.name)
        )
        oldest = session.scalar(
            select(func.min(Event.created_at)).where(
                Event.mailbox == mailbox.name, Event.digest_id.is_(None)
            )
        )
    since = last or oldest
    if since is None:
        since = now - timedelta(days=1)
    from apscheduler.triggers.cron import CronTrigger  # only for a cron schedule

    trigger = CronTrigger.from_crontab(schedule, timezone=settings.digest.timezone)
    fire = trigger.get_next_fire_time(None, since)
    return fire is not None and fire <= now
