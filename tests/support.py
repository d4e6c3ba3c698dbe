"""Helpers shared by the integration tests: config files and running the real command line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, inspect, literal_column, select, table

from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import SmtpServer

PASSWORD_ENV = "ACCHUB_TEST_IMAP_PASSWORD"


def mailbox_entry(account: ImapAccount, name: str = "invites", **extra: Any) -> dict[str, Any]:
    """One ``mailboxes:`` entry for a test account; each account's password comes from its own
    environment variable so several mailboxes can share one config."""
    return {
        "name": name,
        "imap": {
            "host": account.host,
            "port": account.port,
            "security": "starttls",
            "username": account.username,
            "password_env": f"{PASSWORD_ENV}_{name.upper().replace('-', '_')}",
            "ca_file": str(account.ca_file),
            "timeout_seconds": 10,
        },
        "digest_to": ["dana@firm.example"],
        **extra,
    }


def write_config(
    path: Path,
    *,
    accounts: dict[str, ImapAccount],
    database_url: str,
    smtp: SmtpServer | None,
    extra: dict[str, Any] | None = None,
    mailbox_extra: dict[str, Any] | None = None,
) -> Path:
    config: dict[str, Any] = {
        "database": {"url": database_url},
        "mailboxes": [
            mailbox_entry(account, name, **(mailbox_extra or {}))
            for name, account in accounts.items()
        ],
        "digest": {"from": "acchub-mailbot@firm.example", "schedule": "immediate"},
        "verification": {"live_check": False},
        "poll": {"interval_seconds": 60},
    }
    if smtp is not None:
        config["smtp"] = {"host": smtp.host, "port": smtp.port, "security": "none"}
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def environment(accounts: dict[str, ImapAccount], **extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    for name, account in accounts.items():
        env[f"{PASSWORD_ENV}_{name.upper().replace('-', '_')}"] = account.password
    return env


def cli(
    config: Path,
    *args: str,
    accounts: dict[str, ImapAccount],
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m acchub_mailbot ARGS --config CONFIG`` and return what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "acchub_mailbot", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**environment(accounts), **(env or {})},
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def start_service(
    config: Path, accounts: dict[str, ImapAccount], log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """The long-running service in a child process, logging to ``log``."""
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "acchub_mailbot", "run", "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment(accounts, **env),
        )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextlib.contextmanager
def running_service(
    config: Path, accounts: dict[str, ImapAccount], log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The service for the duration of a ``with`` block; killed if the block leaves it running."""
    process = start_service(config, accounts, log, **env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a received mail."""
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def database_dump(database_url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(database_url)
    rows: list[Any] = []
    try:
        with engine.connect() as connection:
            for name in inspect(connection).get_table_names():
                query = select(literal_column("*")).select_from(table(name))
                rows += connection.execute(query).all()
    finally:
        engine.dispose()
    return "\n".join(map(str, rows))
