"""The dashboard as an operator starts it: ``acchub-mailbot web`` on its own, and inside
``run`` with ``web.enabled``. Both bind to loopback and stop cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount, free_port
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


def database_only(tmp_path: Path, database_url: str) -> Path:
    """A config with a database and nothing else: all the dashboard needs."""
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {database_url}\n", encoding="utf-8")
    config.chmod(0o600)
    return config


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_web_command_serves_sign_in_and_stops_on_sigterm(
    tmp_path: Path, database_url: str
) -> None:
    config = database_only(tmp_path, database_url)
    port = free_port()
    log = tmp_path / "web.log"
    with log.open("wb") as handle:
        web = subprocess.Popen(
            [sys.executable, "-m", "acchub_mailbot", "web", "--config", str(config),
             "--port", str(port)],
            stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        support.wait_until(lambda: answers(port), 30, "the dashboard to answer")
        page = httpx.get(f"http://127.0.0.1:{port}/login")
        assert page.status_code == 200 and 'name="password"' in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/clients").status_code == 401
    finally:
        web.send_signal(signal.SIGTERM)
        code = web.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert f"dashboard on http://127.0.0.1:{port}/" in text


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, database_url: str) -> None:
    config = database_only(tmp_path, database_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "acchub_mailbot", "web", "--config", str(config),
             "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_run_serves_the_dashboard_when_enabled_and_still_polls(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
) -> None:
    accounts = {"invites": imap_account}
    imap_account.append(mailfactory.invitation(tenant="webrun.onmicrosoft.com"))
    port = free_port()
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts=accounts,
        database_url=database_url,
        smtp=smtp_server,
        extra={"web": {"enabled": True, "port": port}},
    )
    with support.running_service(config, accounts, tmp_path / "run.log") as service:
        support.wait_until(lambda: answers(port), 30, "the dashboard inside run")
        support.wait_until(
            lambda: (
                "webrun.onmicrosoft.com"
                in support.cli(config, "clients", "list", "--json", accounts=accounts).stdout
            ),
            60,
            "the invitation registered by the same process",
        )
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    assert not answers(port)
