"""What an operator uses: replaying saved mail, the health and metrics endpoint, status."""

from __future__ import annotations

import json
import mailbox
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount, free_port
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


def test_replay_runs_saved_mail_through_the_pipeline_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """Replay takes .eml files, folders and mbox files; --dry-run changes nothing, and a second
    replay of the same mail registers nothing twice."""
    accounts = {"invites": imap_account}
    config = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "a.eml").write_bytes(mailfactory.invitation(tenant="alpha.onmicrosoft.com"))
    (folder / "b.eml").write_bytes(mailfactory.ordinary("not an invitation"))
    box = mailbox.mbox(str(tmp_path / "archive.mbox"))
    box.add(mailfactory.invitation(tenant="beta.onmicrosoft.com"))
    box.add(mailfactory.lookalike())
    box.close()

    dry = support.cli(
        config, "replay", "--dry-run", str(folder), str(tmp_path / "archive.mbox"),
        accounts=accounts,
    )  # fmt: skip
    assert "4 message(s) decided; nothing was changed" in dry.stdout
    listed = support.cli(config, "clients", "list", "--json", accounts=accounts).stdout
    assert json.loads(listed) == []

    first = support.cli(
        config, "replay", str(folder), str(tmp_path / "archive.mbox"), accounts=accounts
    )
    assert "invitation 2" in first.stdout and "rejected 1" in first.stdout
    again = support.cli(
        config, "replay", str(folder), str(tmp_path / "archive.mbox"), accounts=accounts
    )
    assert "4 already replayed before" in again.stdout
    clients = json.loads(support.cli(config, "clients", "list", "--json", accounts=accounts).stdout)
    assert sorted(c["client_url"] for c in clients) == [
        "https://businesscentral.dynamics.com/alpha.onmicrosoft.com",
        "https://businesscentral.dynamics.com/beta.onmicrosoft.com",
    ]


def test_health_and_metrics_endpoint_report_the_service(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
) -> None:
    """/healthz says the mailbox is healthy after a poll and /metrics counts what happened."""
    accounts = {"invites": imap_account}
    port = free_port()
    imap_account.append(mailfactory.invitation(tenant="gamma.onmicrosoft.com"))
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"http": {"enabled": True, "port": port}, "poll": {"interval_seconds": 2}},
    )
    log = tmp_path / "service.log"
    service = support.start_service(config, accounts, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        metrics = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/metrics", timeout=2) as response:  # noqa: S310 - loopback
                    metrics = response.read().decode()
                if 'acchub_registrations_total{mailbox="invites"} 1.0' in metrics:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.3)
        assert 'acchub_messages_total{mailbox="invites",verdict="invitation"} 1.0' in metrics
        assert 'acchub_polls_total{mailbox="invites",result="ok"}' in metrics
        assert "acchub_poll_duration_seconds_bucket" in metrics
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - loopback
            health = json.loads(response.read())
        assert response.status == 200
        assert health["healthy"] is True
        assert health["mailboxes"][0]["mailbox"] == "invites"
        assert imap_account.password not in metrics + json.dumps(health)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=30)


def test_status_exits_non_zero_for_a_mailbox_that_cannot_poll(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """A mailbox whose polls fail is shown as unhealthy with its last error, and status says so
    with its exit code."""
    accounts = {"invites": imap_account}
    config = support.write_config(
        tmp_path / "config.yaml", accounts=accounts, database_url=database_url, smtp=smtp_server
    )
    never = support.cli(config, "status", "--json", accounts=accounts, check=False)
    assert never.returncode == 1  # never polled successfully
    assert json.loads(never.stdout)["mailboxes"][0]["healthy"] is False
    support.cli(config, "run", "--once", accounts=accounts)
    healthy = support.cli(config, "status", "--json", accounts=accounts, check=False)
    assert healthy.returncode == 0
    assert json.loads(healthy.stdout)["mailboxes"][0]["healthy"] is True

    wrong = {"invites": ImapAccount(**{**imap_account.__dict__, "password": "wrong"})}
    failed = support.cli(config, "run", "--once", accounts=wrong, check=False)
    assert failed.returncode == 1
    assert "login" in failed.stdout + failed.stderr
    status = json.loads(
        support.cli(config, "status", "--json", accounts=accounts, check=False).stdout
    )
    assert "login" in (status["mailboxes"][0]["last_error"] or "")
    assert "wrong" not in json.dumps(status)
