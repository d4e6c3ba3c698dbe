"""Several service processes sharing one database and many mailboxes (the scale-out mode).

Run on PostgreSQL by setting ``ACCHUB_TEST_DATABASE_URL`` (as CI does); on SQLite the same
guarantees hold through the same leases.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TypedDict

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from acchub_mailbot.store.database import make_engine, session_factory
from acchub_mailbot.store.models import Client, Event, Lease, ProcessedMessage, utcnow
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAILBOXES = 10
INSTANCES = 3
#: Shortened so that a lease's own expiry is exercised within seconds; the same kills at the
#: default lease and heartbeat run in test_exactly_once.py and test_failover.py.
LEASE_SECONDS = 6


class Snapshot(TypedDict):
    clients: list[str]
    registered_events: int
    holders: dict[str, str]  # mailbox -> instance, live leases only
    rows: int


def snapshot(database_url: str) -> Snapshot:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            now = utcnow()
            return {
                "clients": list(session.scalars(select(Client.client_url)).all()),
                "registered_events": session.scalar(
                    select(func.count()).select_from(Event).where(Event.kind == "registered")
                )
                or 0,
                "holders": {
                    lease.mailbox: lease.holder
                    for lease in session.scalars(select(Lease)).all()
                    if lease.expires_at > now
                },
                "rows": session.scalar(select(func.count()).select_from(ProcessedMessage)) or 0,
            }
    except DBAPIError:
        return {"clients": [], "registered_events": 0, "holders": {}, "rows": 0}
    finally:
        engine.dispose()


def test_three_instances_share_ten_mailboxes_and_survive_a_kill(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    database_url: str,
    services: list[subprocess.Popen[bytes]],
) -> None:
    """Every invitation is registered once, mailboxes are spread over the live instances, and
    a killed instance's mailboxes are taken over after its leases expire."""
    accounts: dict[str, ImapAccount] = {
        f"box{i:02d}": dovecot.new_account(f"box{i:02d}") for i in range(MAILBOXES)
    }
    tenant = 0
    for account in accounts.values():
        mail = []
        for _ in range(2):
            tenant += 1
            mail.append(mailfactory.invitation(tenant=f"t{tenant:03d}.onmicrosoft.com"))
        mail += [mailfactory.ordinary(f"note {n}") for n in range(3)]
        dovecot.seed_maildir(account.username, "INBOX", mail)
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"interval_seconds": 1, "lease_seconds": LEASE_SECONDS}},
    )
    for n in range(INSTANCES):
        services.append(support.start_service(config, accounts, tmp_path / f"instance-{n}.log"))
        time.sleep(0.5)

    support.wait_until(
        lambda: snapshot(database_url)["rows"] == 5 * MAILBOXES,
        90,
        "every message handled",
    )

    # Let the instances settle their shares (an early starter hands mailboxes over).
    last_counts: Counter[str] = Counter()

    def balanced() -> bool:
        exited = [p.pid for p in services if p.poll() is not None]
        assert not exited, f"instances {exited} exited; their logs follow"
        counts = Counter(snapshot(database_url)["holders"].values())
        last_counts.clear()
        last_counts.update(counts)
        return len(counts) == INSTANCES and max(counts.values()) <= -(-MAILBOXES // INSTANCES)

    try:
        support.wait_until(balanced, 60, "mailboxes spread over all three instances")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; leases held per instance: {dict(last_counts)}") from None
    state = snapshot(database_url)
    holders = state["holders"]
    per_instance = Counter(holders.values())
    assert max(per_instance.values()) <= -(-MAILBOXES // INSTANCES)
    assert len(state["clients"]) == 2 * MAILBOXES
    assert state["registered_events"] == 2 * MAILBOXES  # each reported once
    assert state["rows"] == 5 * MAILBOXES  # one row per message: nothing processed twice

    # Kill the instance holding the most mailboxes, then send each of its mailboxes new mail.
    victim_holder, _ = per_instance.most_common(1)[0]
    victim_pid = int(victim_holder.split(":")[1])
    victim = next(p for p in services if p.pid == victim_pid)
    orphaned = [name for name, holder in holders.items() if holder == victim_holder]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    for name in orphaned:
        tenant += 1
        accounts[name].append(mailfactory.invitation(tenant=f"t{tenant:03d}.onmicrosoft.com"))
    expected = 2 * MAILBOXES + len(orphaned)
    support.wait_until(
        lambda: len(snapshot(database_url)["clients"]) == expected,
        LEASE_SECONDS + 30,
        "the killed instance's mailboxes taken over",
    )
    assert time.monotonic() - killed_at < LEASE_SECONDS + 30
    state = snapshot(database_url)
    holders = state["holders"]
    assert victim_holder not in holders.values()
    assert state["registered_events"] == expected
    assert len(set(state["clients"])) == expected
    for process in services:
        if process is not victim:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
