"""Exactly once, counted where the user sees it: deliveries at the SMTP server, per recipient.

Ten mailboxes, ``schedule: immediate``, one or three service processes on one database (SQLite,
or PostgreSQL when ``ACCHUB_TEST_DATABASE_URL`` names a server, as CI does). Lease, heartbeat
and backoff stay at their defaults; only the poll interval is short, so that a test of several
polls takes seconds. Each invitation is forwarded by a listed accountant, so it also makes a
confirmation reply: the two kinds of outgoing mail are both counted.
"""

from __future__ import annotations

import email
import signal
import subprocess
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from acchub_mailbot.store.database import make_engine, session_factory
from acchub_mailbot.store.models import Client, Digest
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.smtp import Received, SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAILBOXES = 10
MX = "mx.firm.example"
ALICE = "alice@firm.example"
ADMIN = "admin@firm.example"


def forwarded(tenant: str, n: int) -> bytes:
    """Alice forwards one client's invitation; the receiving server vouched for her domain."""
    original = mailfactory.invitation(
        tenant=tenant, company=f"Company {n}", message_id=f"<inv-{n}@client.example>"
    )
    outer = EmailMessage()
    outer["From"] = ALICE
    outer["To"] = "invites@firm.example"
    outer["Subject"] = "FW: You have been invited to Dynamics 365 Business Central"
    outer["Message-ID"] = f"<fw-{n}@firm.example>"
    outer.set_content("A new client, please register it.")
    outer.add_attachment(email.message_from_bytes(original))
    header = (
        f"Authentication-Results: {MX}; spf=pass smtp.mailfrom={ALICE}; dkim=pass "
        "header.d=firm.example; dmarc=pass (p=reject) header.from=firm.example\r\n"
    )
    return header.encode() + outer.as_bytes()


def recipient(name: str) -> str:
    return f"owner-{name}@firm.example"


def config(tmp_path: Path, accounts: dict[str, ImapAccount], smtp: SmtpServer, db: str) -> Path:
    entries = [
        support.mailbox_entry(
            account,
            name,
            forwarders=[ALICE],
            trusted_authserv_id=MX,
            confirm={"enabled": True, "max_per_sender_per_hour": 1000},
            digest_to=[recipient(name), ADMIN],
        )
        for name, account in accounts.items()
    ]
    path = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=db,
        smtp=smtp,
        extra={"poll": {"interval_seconds": 2}},
    )
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["mailboxes"] = entries
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def digests(received: list[Received]) -> list[Received]:
    return [r for r in received if r.message.get("Auto-Submitted") == "auto-generated"]


def confirmations(received: list[Received]) -> list[Received]:
    return [r for r in received if r.message.get("Auto-Submitted") == "auto-replied"]


def per_recipient(received: list[Received]) -> Counter[tuple[str, str]]:
    """How often each (recipient, Message-ID) was delivered."""
    return Counter((rcpt, str(r.message["Message-ID"])) for r in received for rcpt in r.rcpt_tos)


def database(db: str) -> tuple[int, int, int]:
    """(clients, digests, digests not yet sent)."""
    engine = make_engine(db)
    try:
        with session_factory(engine)() as session:
            clients = len(session.scalars(select(Client.id)).all())
            rows = session.scalars(select(Digest.status)).all()
            return clients, len(rows), sum(1 for s in rows if s != "sent")
    except Exception:
        return 0, 0, 0  # the service has not created its tables yet
    finally:
        engine.dispose()


def assert_each_mail_once(smtp: SmtpServer, clients: int) -> None:
    received = list(smtp.received)
    digest_counts = per_recipient(digests(received))
    doubles = {key: n for key, n in digest_counts.items() if n > 1}
    assert not doubles, f"digests delivered more than once: {doubles}"
    reply_counts = per_recipient(confirmations(received))
    doubles = {key: n for key, n in reply_counts.items() if n > 1}
    assert not doubles, f"confirmations delivered more than once: {doubles}"
    # Every forward got its one reply, and every client is in exactly one digest per recipient.
    assert sum(reply_counts.values()) == clients
    admin_texts = [
        str(r.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        for r in digests(received)
        if ADMIN in r.rcpt_tos
    ]
    for n in range(1, clients + 1):
        url = f"https://businesscentral.dynamics.com/t{n:03d}.onmicrosoft.com"
        found = sum(text.count(url) > 0 for text in admin_texts)
        assert found == 1, f"{url} reported in {found} digests to the admin"


@pytest.mark.parametrize("instances", [1, 3])
def test_ten_mailboxes_send_each_digest_and_reply_once_per_recipient(
    instances: int,
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    database_url: str,
    services: list[subprocess.Popen[bytes]],
) -> None:
    accounts = {f"box{i:02d}": dovecot.new_account(f"eo{instances}box{i:02d}") for i in range(10)}
    names = list(accounts)
    tenant = 0
    for name in names:
        tenant += 1
        dovecot.seed_maildir(
            accounts[name].username, "INBOX", [forwarded(f"t{tenant:03d}.onmicrosoft.com", tenant)]
        )
    cfg = config(tmp_path, accounts, smtp_server, database_url)
    for n in range(instances):
        services.append(support.start_service(cfg, accounts, tmp_path / f"instance-{n}.log"))

    def settled(expected: int) -> bool:
        exited = [p.pid for p in services if p.poll() is not None]
        assert not exited, f"instances {exited} exited; their logs follow"
        clients, rows, unsent = database(database_url)
        replies = len(confirmations(list(smtp_server.received)))
        return clients == expected and rows > 0 and unsent == 0 and replies >= expected

    support.wait_until(lambda: settled(tenant), 120, "every invitation registered and reported")
    time.sleep(6)  # three more poll intervals: nothing more may go out
    assert_each_mail_once(smtp_server, tenant)

    # Several polls later, new mail in some mailboxes: still each mail once.
    for name in names[:4]:
        tenant += 1
        accounts[name].append(forwarded(f"t{tenant:03d}.onmicrosoft.com", tenant))
    support.wait_until(lambda: settled(tenant), 120, "the new invitations reported")
    time.sleep(6)
    assert_each_mail_once(smtp_server, tenant)

    if instances > 1:
        # One instance is killed and another started while invitations arrive.
        services[0].send_signal(signal.SIGKILL)
        services[0].wait(timeout=10)
        for name in names:
            tenant += 1
            accounts[name].append(forwarded(f"t{tenant:03d}.onmicrosoft.com", tenant))
        services.append(support.start_service(cfg, accounts, tmp_path / "instance-new.log"))
        services.pop(0)
        support.wait_until(lambda: settled(tenant), 120, "invitations reported after the kill")
        time.sleep(6)
        assert_each_mail_once(smtp_server, tenant)
    for process in services:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
