"""Crashes and failover at the default settings: nothing lost, nothing doubled, no long wait.

Lease, heartbeat, backoff and the poll interval all keep their defaults here (the interval is
60 s, so anything that waited for a poll interval or a lease would show as a timeout).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from acchub_mailbot.store.database import make_engine, migrate, session_factory
from acchub_mailbot.store.models import Client, Digest, Instance, Lease, utcnow
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL = 60  # the default poll interval


def _clients(db: str) -> list[str]:
    engine = make_engine(db)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Client.client_url)).all())
    except Exception:
        return []
    finally:
        engine.dispose()


def _unsent(db: str) -> int:
    engine = make_engine(db)
    try:
        with session_factory(engine)() as session:
            return len(session.scalars(select(Digest.id).where(Digest.status != "sent")).all())
    except Exception:
        return 1
    finally:
        engine.dispose()


def test_six_kills_at_random_moments_lose_and_double_nothing_and_restart_resumes_at_once(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    database_url: str,
    services: list[subprocess.Popen[bytes]],
) -> None:
    accounts: dict[str, ImapAccount] = {
        f"box{i}": dovecot.new_account(f"kill{i}") for i in range(3)
    }
    cfg = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    rng = random.Random(20261206)
    tenant = 0
    for kill in range(6):
        for _ in range(2):
            tenant += 1
            name = rng.choice(list(accounts))
            accounts[name].append(mailfactory.invitation(tenant=f"k{tenant:03d}.onmicrosoft.com"))
        process = support.start_service(cfg, accounts, tmp_path / f"run-{kill}.log")
        services.append(process)
        time.sleep(rng.uniform(0.3, 4.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    # The last mail arrives while nothing runs; the new process must not wait for the lease
    # its killed predecessor held (three minutes at the defaults).
    for _ in range(2):
        tenant += 1
        name = rng.choice(list(accounts))
        accounts[name].append(mailfactory.invitation(tenant=f"k{tenant:03d}.onmicrosoft.com"))
    restarted = time.monotonic()
    services.append(support.start_service(cfg, accounts, tmp_path / "run-last.log"))
    support.wait_until(
        lambda: len(_clients(database_url)) == tenant and _unsent(database_url) == 0,
        2 * INTERVAL,
        "every invitation registered and reported after the last restart",
    )
    resumed = time.monotonic() - restarted
    assert resumed < 2 * INTERVAL, f"polling resumed {resumed:.1f}s after the restart"
    print(f"resumed {resumed:.1f}s after the last restart")
    time.sleep(3)

    urls = _clients(database_url)
    assert len(urls) == len(set(urls)) == tenant  # each registered once
    carriers: dict[str, set[str]] = {url: set() for url in urls}
    for received in smtp_server.received:
        body = received.message.get_body(("plain",))
        text = str(body.get_content()) if body is not None else ""
        for url in urls:
            if re.search(re.escape(url) + r"(?![\w.-])", text):
                carriers[url].add(str(received.message["Message-ID"]))
    # A digest sent again after a crash keeps its Message-ID; a second digest would not.
    assert {url: len(ids) for url, ids in carriers.items()} == dict.fromkeys(urls, 1)
    services[-1].send_signal(signal.SIGTERM)
    assert services[-1].wait(timeout=30) == 0


def test_an_instance_that_dies_on_another_host_is_replaced_within_30_seconds(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    services: list[subprocess.Popen[bytes]],
) -> None:
    """The other host is simulated by its rows: a lease and heartbeats under another host name.
    It stops heartbeating at once (it died); its lease would last three more minutes."""
    accounts = {"invites": imap_account}
    cfg = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    engine = make_engine(database_url)
    migrate(engine)
    holder = "other-host.example:4242:-:deadbeef"
    died = utcnow()
    with session_factory(engine).begin() as session:
        session.add(Instance(id=holder, hostname="other-host.example", pid=4242, heartbeat_at=died))
        session.add(
            Lease(mailbox="invites", holder=holder, token=7, expires_at=died + timedelta(minutes=3))
        )
    engine.dispose()
    imap_account.append(mailfactory.invitation(tenant="failover.onmicrosoft.com"))
    started = time.monotonic()
    log = tmp_path / "run-survivor.log"
    services.append(support.start_service(cfg, accounts, log))
    support.wait_until(lambda: len(_clients(database_url)) == 1, 30, "the mailbox taken over")
    took = time.monotonic() - started
    print(f"failover took {took:.1f}s")
    assert took <= 30
    text = log.read_text(errors="replace")
    assert f"mailbox=invites is polled by {holder}" in text  # the wait is logged, once
    assert text.count(f"mailbox=invites is polled by {holder}") == 1
    assert f"mailbox=invites taken over from {holder}: no heartbeat since" in text
    status = support.cli(cfg, "status", "--json", accounts=accounts, check=False)
    (row,) = json.loads(status.stdout)["mailboxes"]
    assert row["held_by"] not in (None, holder)
    assert row["held_since"] is not None and row["waiting"] is False
    services[-1].send_signal(signal.SIGTERM)
    assert services[-1].wait(timeout=30) == 0
