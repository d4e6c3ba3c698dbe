""" "Poll now" from the Mailboxes page, across two service processes and three mailboxes: the
request is a row in the database; whichever instance holds the mailbox polls it at its next
heartbeat. The poll interval is an hour, so nothing but the request can fetch the new mail.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from acchub_mailbot.app import accounts, mailboxes
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import load_settings
from acchub_mailbot.store.models import AuditEntry, Client, Lease, PollRequest, utcnow
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = ("north", "south", "west")


@dataclass(frozen=True)
class Person:
    email: str
    role: str


ADMIN = Person("dana@firm.example", "admin")


def registered(app: App) -> dict[str, int]:
    """Clients per tenant domain, as rows in the database."""
    with app.sessions() as session:
        urls = session.scalars(select(Client.client_url)).all()
    return Counter(url.rsplit("/", 1)[-1].split(".")[0] for url in urls)


def holders(app: App) -> dict[str, str]:
    with app.sessions() as session:
        now = utcnow()
        return {
            lease.mailbox: lease.holder
            for lease in session.scalars(select(Lease)).all()
            if lease.expires_at > now
        }


def test_poll_now_is_answered_by_the_instance_holding_the_mailbox(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    database_url: str,
    services: list[subprocess.Popen[bytes]],
) -> None:
    boxes: dict[str, ImapAccount] = {name: dovecot.new_account(name) for name in NAMES}
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=boxes,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"interval_seconds": 3600}},  # heartbeat and lease at their defaults
    )
    settings = load_settings(config, environ=support.environment(boxes))
    app = App.open(settings)
    try:
        accounts.add_user(app, ADMIN.email, ADMIN.role, "admin passphrase 1")
        for n in range(2):
            services.append(support.start_service(config, boxes, tmp_path / f"instance-{n}.log"))

        def settled() -> bool:
            exited = [p.pid for p in services if p.poll() is not None]
            assert not exited, f"instances {exited} exited; their logs follow"
            held = holders(app)
            return len(held) == 3 and len(set(held.values())) == 2

        support.wait_until(settled, 60, "three mailboxes held by two instances")
        time.sleep(12)  # two heartbeats more: shares settled, every first poll done
        assert holders(app) == (before := holders(app)) and len(set(before.values())) == 2
        for n, name in enumerate(NAMES, start=1):
            boxes[name].append(mailfactory.invitation(tenant=f"{name}{n}.onmicrosoft.com"))

        assert mailboxes.poll_now(app, ADMIN, "north") is True
        assert mailboxes.poll_now(app, ADMIN, "north") is False  # one request waits, not two
        waiting = {m["mailbox"]: m["poll_requested_by"] for m in mailboxes.overview(app, ADMIN)
                   ["mailboxes"] if m["poll_requested_at"]}  # fmt: skip
        assert waiting in ({"north": ADMIN.email}, {})  # {} once a heartbeat answered it
        support.wait_until(lambda: registered(app) == {"north1": 1}, 30, "north polled")
        time.sleep(6)  # a heartbeat more: nobody polled the other two on their own
        assert registered(app) == {"north1": 1}

        for name in ("south", "west"):
            assert mailboxes.poll_now(app, ADMIN, name) is True
        support.wait_until(lambda: len(registered(app)) == 3, 30, "south and west polled")
        assert registered(app) == {"north1": 1, "south2": 1, "west3": 1}
        received = smtp_server.wait_for(3, timeout=30)  # a digest per registration
        assert [r for item in received for r in item.rcpt_tos] == ["dana@firm.example"] * 3
        with app.sessions() as session:
            assert session.scalar(select(func.count()).select_from(PollRequest)) == 0
            asked = session.scalars(
                select(AuditEntry.target).where(AuditEntry.action == "poll_requested")
            ).all()
        assert sorted(asked) == ["mailbox north", "mailbox north", "mailbox south", "mailbox west"]
        report = json.loads(support.cli(config, "status", "--json", accounts=boxes).stdout)
        assert [m["poll_requested_at"] for m in report["mailboxes"]] == [None, None, None]
        for process in services:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(timeout=30) for process in services] == [0, 0]
    finally:
        app.close()
