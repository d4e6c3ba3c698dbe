"""The service against a real Dovecot and SMTP server with faults injected: crashes, restarts,
recreated folders, an SMTP outage, a poisonous message, and push delivery with IDLE."""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from acchub_mailbot.app import runtime
from acchub_mailbot.app.pollstate import PollReport
from acchub_mailbot.app.runtime import App
from acchub_mailbot.config import load_settings
from acchub_mailbot.core.messages import Message
from acchub_mailbot.handlers import DEFAULT_HANDLERS
from acchub_mailbot.handlers.base import Decision
from acchub_mailbot.store.database import make_engine, session_factory
from acchub_mailbot.store.models import Client, Event, ProcessedMessage
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


def client_urls(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Client.client_url).order_by(Client.id)).all())
    except DBAPIError:
        return []  # the service has not created its tables yet
    finally:
        engine.dispose()


def message_states(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    counts: dict[str, int] = defaultdict(int)
    try:
        with session_factory(engine)() as session:
            for row in session.scalars(select(ProcessedMessage)).all():
                counts[row.state] += 1
    finally:
        engine.dispose()
    return dict(counts)


def tenant_url(n: int) -> str:
    return f"https://businesscentral.dynamics.com/tenant{n:03d}.onmicrosoft.com"


def flags_in(account: ImapAccount, folder: str = "INBOX") -> list[set[bytes]]:
    with account.client() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            return []
        return [set(v[b"FLAGS"]) for v in client.fetch(uids, ["FLAGS"]).values()]


@pytest.fixture
def service_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "service.log"
    yield path
    if path.exists():
        print(path.read_text(errors="replace")[-4000:])  # shown only when the test fails


class Poison:
    """A handler that raises on one subject: stands in for a bug a message could trigger."""

    name = "poison"

    def decide(self, message: Message) -> Decision | None:
        if "POISON" in message.subject:
            raise RuntimeError("this message breaks the pipeline")
        return None


def test_poison_message_is_quarantined_and_can_be_retried(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """A message that keeps failing ends in the quarantine folder; the others flow on.

    The poison message shares its batch (one transaction) with an invitation and ordinary mail:
    the batch is rolled back and redone message by message, so the invitation is registered
    and reported exactly once."""
    accounts = {"invites": imap_account}
    imap_account.append(mailfactory.ordinary("note before", message_id="<before@x>"))
    imap_account.append(mailfactory.ordinary("POISON: breaks things", message_id="<poison@x>"))
    imap_account.append(mailfactory.invitation(tenant="tenant001.onmicrosoft.com"))
    imap_account.append(mailfactory.ordinary("note after", message_id="<after@x>"))
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"max_attempts": 3, "retry_base_seconds": 0.05}},
    )
    settings = load_settings(config, environ=support.environment(accounts))
    app = App.open(settings)
    app.handlers = (Poison(), *DEFAULT_HANDLERS)
    try:
        for _ in range(4):
            app.poll(settings.mailboxes[0])
            time.sleep(0.3)
    finally:
        app.close()
    assert client_urls(database_url) == [tenant_url(1)]
    assert message_states(database_url) == {"quarantined": 1, "done": 3}
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
    finally:
        engine.dispose()
    assert kinds == ["registered", "quarantined"]
    # Moved out of the inbox (never deleted) into the quarantine folder.
    assert len(flags_in(imap_account, "acchub-quarantine")) == 1
    assert len(flags_in(imap_account)) == 3

    listed = json.loads(support.cli(config, "failed", "list", "--json", accounts=accounts).stdout)
    assert [item["message_id"] for item in listed] == ["<poison@x>"]
    assert "this message breaks the pipeline" in listed[0]["last_error"]

    support.cli(config, "failed", "retry", "--all", accounts=accounts)
    result = support.cli(config, "run", "--once", accounts=accounts)
    assert "invites: 1 new message(s)" in result.stdout
    assert flags_in(imap_account, "acchub-quarantine") == []
    assert len(flags_in(imap_account)) == 4
    assert (
        json.loads(support.cli(config, "failed", "list", "--json", accounts=accounts).stdout) == []
    )


def test_mail_arriving_during_a_poll_is_fetched_by_the_next_one(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invitation delivered after a poll searched the folder, but before that poll ended,
    is fetched by the next poll: the "nothing new" shortcut must not take it for seen."""
    accounts = {"invites": imap_account}
    imap_account.append(mailfactory.invitation(tenant="tenant001.onmicrosoft.com"))
    config = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    settings = load_settings(config, environ=support.environment(accounts))
    real_poll = runtime.poll_mailbox
    late = [mailfactory.invitation(tenant="tenant002.onmicrosoft.com")]

    def poll_then_deliver(*args: Any, **kwargs: Any) -> PollReport:
        report = real_poll(*args, **kwargs)
        while late:  # arrives once the poll has fetched, before it is over
            imap_account.append(late.pop())
        return report

    monkeypatch.setattr(runtime, "poll_mailbox", poll_then_deliver)
    app = App.open(settings)
    try:
        for _ in range(3):
            app.poll(settings.mailboxes[0])
    finally:
        app.close()
    assert client_urls(database_url) == [tenant_url(1), tenant_url(2)]


def test_recreated_folder_changes_uidvalidity_without_duplicates(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """The same mail in a recreated folder (new UIDVALIDITY) is neither skipped nor repeated."""
    accounts = {"invites": imap_account}
    mail = [
        mailfactory.invitation(tenant="tenant001.onmicrosoft.com", message_id="<a@x>"),
        mailfactory.invitation(tenant="tenant002.onmicrosoft.com", message_id="<b@x>"),
        mailfactory.ordinary("hello", message_id="<c@x>"),
    ]
    for raw in mail:
        imap_account.append(raw, folder="Invites")
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        mailbox_extra={"action": {"type": "flag"}},
    )
    document = yaml.safe_load(config.read_text())
    document["mailboxes"][0]["imap"]["folder"] = "Invites"
    config.write_text(yaml.safe_dump(document))
    support.cli(config, "run", "--once", accounts=accounts)
    assert len(smtp_server.received) == 1
    with imap_account.client() as client:
        before = client.folder_status("Invites", ["UIDVALIDITY"])[b"UIDVALIDITY"]
        client.delete_folder("Invites")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    for raw in mail:
        imap_account.append(raw, folder="Invites")
    with imap_account.client() as client:
        after = client.folder_status("Invites", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    assert before != after
    result = support.cli(config, "run", "--once", accounts=accounts)
    assert "invites: 3 new message(s)" in result.stdout
    assert client_urls(database_url) == [tenant_url(1), tenant_url(2)]
    assert len(smtp_server.received) == 1  # nothing new to report, so no second digest
    assert all(b"$AcchubProcessed" in flags for flags in flags_in(imap_account, "Invites"))


def test_smtp_outage_delays_the_digest_but_never_duplicates_it(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """A digest that cannot be sent waits in the outbox and goes out once, later."""
    accounts = {"invites": imap_account}
    imap_account.append(mailfactory.invitation(tenant="tenant001.onmicrosoft.com"))
    config = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    smtp_server.stop()
    support.cli(config, "run", "--once", accounts=accounts)
    outage = support.cli(config, "status", "--json", accounts=accounts, check=False)
    status = json.loads(outage.stdout)
    assert status["pending_digests"] == 1
    # The mailbox polls fine; the held digest alone makes the instance unhealthy.
    assert outage.returncode == 1 and status["mailboxes"][0]["healthy"] is True
    assert status["sending"]["healthy"] is False and status["sending"]["held_digests"] == 1
    assert status["sending"]["last_error"]
    text = support.cli(config, "status", accounts=accounts, check=False).stdout
    assert "sending: FAILING, 1 digests and 0 replies held back since" in text
    smtp_server.start()
    # The retry waits for its backoff; send-now delivers what is pending at once.
    support.cli(config, "digest", "send-now", accounts=accounts)
    support.cli(config, "run", "--once", accounts=accounts)
    received = smtp_server.wait_for(1)
    time.sleep(0.5)
    assert len(received) == 1
    after = support.cli(config, "status", "--json", accounts=accounts, check=False)
    assert json.loads(after.stdout)["sending"]["healthy"] is True and after.returncode == 0
    assert "tenant001.onmicrosoft.com" in received[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_service_survives_a_dovecot_restart(
    tmp_path: Path,
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    service_log: Path,
) -> None:
    """The daemon keeps running while the IMAP server is down and carries on when it is back."""
    accounts = {"invites": imap_account}
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"interval_seconds": 1}},
    )
    with support.running_service(config, accounts, service_log) as service:
        try:
            imap_account.append(mailfactory.invitation(tenant="tenant001.onmicrosoft.com"))
            support.wait_until(
                lambda: client_urls(database_url) == [tenant_url(1)], 30, "first client"
            )
            dovecot.stop()
            time.sleep(3)
            assert service.poll() is None, "the service must not exit when IMAP is down"
            dovecot.start()
            imap_account.append(mailfactory.invitation(tenant="tenant002.onmicrosoft.com"))
            support.wait_until(
                lambda: len(client_urls(database_url)) == 2, 40, "client after the restart"
            )
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=30) == 0
        finally:
            if not dovecot.running:
                dovecot.start()
    log = service_log.read_text()
    assert "poll failed" in log
    assert "recovered" in log


def test_idle_registers_a_new_invitation_within_seconds(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    service_log: Path,
) -> None:
    """With IDLE, mail appended by another connection is handled long before the next poll."""
    accounts = {"invites": imap_account}
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"interval_seconds": 3600, "idle": True}},
    )
    with support.running_service(config, accounts, service_log) as service:
        support.wait_until(
            lambda: "IDLE connected" in service_log.read_text(), 30, "IDLE connection"
        )
        time.sleep(0.5)
        started = time.monotonic()
        imap_account.append(mailfactory.invitation(tenant="tenant007.onmicrosoft.com"))
        support.wait_until(
            lambda: client_urls(database_url) == [tenant_url(7)], 10, "push delivery"
        )
        assert time.monotonic() - started < 10
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0


def _digest_urls(smtp: SmtpServer) -> dict[str, set[str]]:
    """Client URLs announced as new, per distinct digest Message-ID."""
    by_id: dict[str, set[str]] = {}
    for item in smtp.received:
        text = item.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        urls = {
            tenant_url(n)
            for n in range(1, 100)
            if f"tenant{n:03d}.onmicrosoft.com?redirectedfromsignup=1" in text
        }
        by_id.setdefault(str(item.message["Message-ID"]), set()).update(urls)
    return by_id


def test_sigkill_at_any_point_loses_and_duplicates_nothing(
    tmp_path: Path,
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
) -> None:
    """Killed during fetch, between commit and server action, and around the digest send,
    the service ends with every invitation registered once and reported in one digest."""
    accounts = {"invites": imap_account}
    invitations = 30
    mail: list[bytes] = []
    for n in range(1, 241):
        if n % 8 == 0:  # every eighth message: 30 invitations among 240
            k = n // 8
            mail.append(
                mailfactory.invitation(
                    tenant=f"tenant{k:03d}.onmicrosoft.com",
                    company=f"Client {k}",
                    message_id=f"<inv-{k}@clients.example>",
                )
            )
        else:
            mail.append(mailfactory.ordinary(f"note {n}", message_id=f"<note-{n}@firm.example>"))
    dovecot.seed_maildir(imap_account.username, "INBOX", mail)
    # A killed process cannot release its lease: the next run waits for it to expire.
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"poll": {"lease_seconds": 5}},
    )
    killed: list[str] = []
    for point in (
        "fetched=kill@40",
        "after-commit=kill@10",
        "after-action=kill@1",
        "digest-sent=kill@1",
        "digest-send=kill@1",
    ):
        result = support.cli(
            config,
            "run",
            "--once",
            accounts=accounts,
            check=False,
            env={"ACCHUB_FAILPOINTS": point},
        )
        if result.returncode == -signal.SIGKILL:
            killed.append(point)
            time.sleep(5.5)
    final = support.cli(config, "run", "--once", accounts=accounts)
    assert final.returncode == 0
    assert set(killed) >= {"fetched=kill@40", "after-commit=kill@10", "after-action=kill@1"}
    assert "digest-sent=kill@1" in killed  # the SMTP server had accepted that digest

    expected = [tenant_url(k) for k in range(1, invitations + 1)]
    assert sorted(client_urls(database_url)) == expected
    states = message_states(database_url)
    assert states == {"done": len(mail)}, states
    flags = flags_in(imap_account)
    assert len(flags) == len(mail)
    assert all(b"$AcchubProcessed" in f and b"\\Seen" not in f for f in flags)

    # Every new client is in exactly one digest (a digest re-sent after a crash keeps its
    # Message-ID, so recipients see one message).
    per_digest = _digest_urls(smtp_server)
    seen: dict[str, int] = defaultdict(int)
    for urls in per_digest.values():
        for url in urls:
            seen[url] += 1
    assert sorted(seen) == expected
    assert set(seen.values()) == {1}


def test_sigterm_stops_the_service_cleanly(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    service_log: Path,
) -> None:
    """SIGTERM ends the service with exit code 0 and a last log line saying so."""
    accounts = {"invites": imap_account}
    config = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    with support.running_service(config, accounts, service_log) as service:
        support.wait_until(lambda: "poll done" in service_log.read_text(), 30, "the first poll")
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    assert "acchub-mailbot stopped" in service_log.read_text()
