"""Mailbox leases: at most one process polls a mailbox at a time, with no coordinator of our own.

A lease is a row per mailbox with a holder, an expiry and a fencing token. Taking it over from
another holder is one conditional UPDATE (only when the old lease expired) that increments the
token, so two processes can never both believe they hold it. Every write that depends on the
lease (each message's transaction) calls :func:`fence`, a conditional UPDATE on holder *and*
token that also extends the expiry: if another process took the mailbox over meanwhile, it
matches no row and the transaction is abandoned. On PostgreSQL the UPDATE also locks the row until
commit, so a takeover cannot slip in between the check and the commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from acchub_mailbot.errors import TransientError
from acchub_mailbot.store.models import Instance, Lease, utcnow


class LeaseLost(TransientError):
    """Another process took the mailbox over; this one must stop writing for it."""


@dataclass(frozen=True)
class Held:
    mailbox: str
    holder: str
    token: int


def acquire(
    session: Session,
    mailbox: str,
    holder: str,
    ttl: timedelta,
    now: datetime | None = None,
    *,
    gone: Collection[str] = (),
) -> Held | None:
    """Take or renew the lease; ``None`` when a live lease belongs to someone else.

    A lease is free when it expired, or when its holder is in ``gone`` (a dead process on this
    host, or an instance that stopped heartbeating): then it is taken over at once.
    """
    now = now or utcnow()
    expires = now + ttl
    renewed = session.execute(
        update(Lease)
        .where(Lease.mailbox == mailbox, Lease.holder == holder)
        .values(expires_at=expires)
        .returning(Lease.token)
    ).scalar_one_or_none()
    if renewed is not None:
        return Held(mailbox, holder, renewed)
    taken = session.execute(
        update(Lease)
        .where(
            Lease.mailbox == mailbox,
            or_(Lease.expires_at < now, Lease.holder.in_(list(gone))),
        )
        .values(holder=holder, token=Lease.token + 1, expires_at=expires, acquired_at=now)
        .returning(Lease.token)
    ).scalar_one_or_none()
    if taken is not None:
        return Held(mailbox, holder, taken)
    if session.get(Lease, mailbox) is not None:
        return None
    try:
        with session.begin_nested():
            session.add(
                Lease(mailbox=mailbox, holder=holder, token=1, expires_at=expires, acquired_at=now)
            )
    except IntegrityError:
        return None  # another process created it first
    return Held(mailbox, holder, 1)


def fence(session: Session, held: Held, ttl: timedelta, now: datetime | None = None) -> None:
    """Raise :class:`LeaseLost` unless ``held`` is still the current lease; extends it."""
    now = now or utcnow()
    matched = session.execute(
        update(Lease)
        .where(
            Lease.mailbox == held.mailbox,
            Lease.holder == held.holder,
            Lease.token == held.token,
        )
        .values(expires_at=now + ttl)
        .returning(Lease.token)
    ).scalar_one_or_none()
    if matched is None:
        raise LeaseLost(f"mailbox {held.mailbox}: lease {held.token} was taken over")


def release(session: Session, held: Held) -> None:
    session.execute(
        update(Lease)
        .where(
            Lease.mailbox == held.mailbox,
            Lease.holder == held.holder,
            Lease.token == held.token,
        )
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )


def holders(session: Session) -> Sequence[Lease]:
    return session.scalars(select(Lease).order_by(Lease.mailbox)).all()


# The queries a claim and a heartbeat make are answered in SQL: their cost grows with the
# number of instances, not with the number of mailboxes (a thousand, on a big deployment).


def lease_of(session: Session, mailbox: str) -> Lease | None:
    return session.get(Lease, mailbox)


def live_holders(session: Session, now: datetime) -> list[str]:
    """The instances holding at least one unexpired lease."""
    return list(
        session.scalars(select(Lease.holder).where(Lease.expires_at > now).distinct()).all()
    )


def count_held(session: Session, holder: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Lease)
            .where(Lease.holder == holder, Lease.expires_at > now)
        )
        or 0
    )


def renew(
    session: Session, holder: str, mailboxes: Collection[str], ttl: timedelta, now: datetime
) -> list[str]:
    """Extend the unexpired leases ``holder`` has on ``mailboxes``; the mailboxes renewed.

    One statement for any number of mailboxes. A lease taken over or expired meanwhile is not
    renewed: it has another holder, or is free for whoever claims it first.
    """
    if not mailboxes:
        return []
    return list(
        session.scalars(
            update(Lease)
            .where(
                Lease.holder == holder,
                Lease.mailbox.in_(list(mailboxes)),
                Lease.expires_at > now,
            )
            .values(expires_at=now + ttl)
            .returning(Lease.mailbox)
        ).all()
    )


def up_for_grabs(session: Session, me: str, gone: Collection[str], now: datetime) -> list[str]:
    """Mailboxes whose lease another instance let go of, or whose holder is gone."""
    return list(
        session.scalars(
            select(Lease.mailbox).where(
                Lease.holder != me, or_(Lease.expires_at <= now, Lease.holder.in_(list(gone)))
            )
        ).all()
    )


def heartbeat(session: Session, instance_id: str, now: datetime | None = None) -> None:
    """Record that this instance is alive (an upsert: several threads may call it at once)."""
    now = now or utcnow()
    host, _, rest = instance_id.partition(":")
    pid_text = rest.partition(":")[0]
    values = {
        "id": instance_id,
        "hostname": host,
        "pid": int(pid_text) if pid_text.isdigit() else 0,
        "started_at": now,
        "heartbeat_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(Instance).values(**values)
        session.execute(pg.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now}))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(Instance).values(**values)
        session.execute(
            lite.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now})
        )
    else:
        row = session.get(Instance, instance_id)
        if row is None:
            session.add(Instance(**values))
        else:
            row.heartbeat_at = now


def live_instances(session: Session, within: timedelta, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(Instance.id).where(Instance.heartbeat_at >= now - within).order_by(Instance.id)
        ).all()
    )


def forget_instance(session: Session, instance_id: str) -> None:
    session.execute(delete(Instance).where(Instance.id == instance_id))


def silent_holders(
    session: Session, within: timedelta, now: datetime | None = None
) -> dict[str, datetime | None]:
    """Holders of unexpired leases that have not heartbeaten ``within``: their last heartbeat,
    or None when they have no instance row at all."""
    now = now or utcnow()
    beats = dict(session.execute(select(Instance.id, Instance.heartbeat_at)).all())
    silent: dict[str, datetime | None] = {}
    for holder in live_holders(session, now):
        beat = beats.get(holder)
        if beat is None or beat < now - within:
            silent[holder] = beat
    return silent


def set_waiting(session: Session, instance_id: str, waiting: dict[str, str]) -> None:
    """Record which mailboxes this instance waits for, and for whom (``status`` shows it)."""
    session.execute(
        update(Instance).where(Instance.id == instance_id).values(waiting=waiting or None)
    )


def waiting_for(
    session: Session, within: timedelta, now: datetime | None = None
) -> dict[str, list[str]]:
    """Per mailbox, the live instances that wait for it."""
    now = now or utcnow()
    rows = session.execute(
        select(Instance.id, Instance.waiting).where(Instance.heartbeat_at >= now - within)
    ).all()
    found: dict[str, list[str]] = {}
    for instance_id, waiting in rows:
        for mailbox in waiting or {}:
            found.setdefault(mailbox, []).append(instance_id)
    return found
