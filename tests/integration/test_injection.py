"""Hostile values from mail reach SQL, HTML, mail headers, logs and the terminal only defused.

Client names (from the Accountant Hub link's filter), subjects and Message-IDs below are chosen
by the sender. They go through the real command line, a real Dovecot, the configured database
and a real SMTP server, and each destination is checked for its own kind of injection.
"""

from __future__ import annotations

import json
from email.header import Header
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

#: Company names a client admin (or anyone imitating one) can put in the invitation.
HOSTILE_NAMES = (
    "'); DROP TABLE clients;--",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "\x1b[31mRed Ltd\x1b[0m",
    "Bidi \u202eLtd\u202c",
)
#: Characters that must never reach a terminal or a log line unescaped.
RAW_CONTROLS = ("\x1b", "\u202e", "\u202c", "\r")
INJECTED_SUBJECT = "Invitation X\r\nBcc: victim@example.com\r\n\r\n<b>body</b>"
HOSTILE_MESSAGE_ID = "<evil\x1b[2J\u202e@attacker.example>"


def _hostile_lookalike() -> bytes:
    """A look-alike invitation (so it is reported) whose subject hides a CR/LF header injection
    in an encoded word and whose Message-ID carries terminal escapes."""
    raw = mailfactory.lookalike()
    head, sep, body = raw.partition(b"\n\n")
    lines = [
        line
        for line in head.split(b"\n")
        if not line.lower().startswith((b"subject:", b"message-id:"))
    ]
    lines.append(b"Subject: " + Header(INJECTED_SUBJECT, "utf-8").encode().encode("ascii"))
    lines.append(b"Message-ID: " + HOSTILE_MESSAGE_ID.encode("utf-8"))
    return b"\n".join(lines) + sep + body


def test_hostile_names_and_subjects_are_defused_everywhere(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """Names are stored verbatim via bound parameters, escaped in HTML, one-line in headers and
    escaped in logs and in ``clients list``."""
    for index, name in enumerate(HOSTILE_NAMES):
        imap_account.append(
            mailfactory.invitation(
                tenant=f"hostile{index}.onmicrosoft.com",
                hub_name=name,
                message_id=f"<hostile-{index}@client.example>",
            )
        )
    imap_account.append(_hostile_lookalike())
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts={"invites": imap_account},
        database_url=database_url,
        smtp=smtp_server,
        extra={"logging": {"level": "DEBUG"}},
    )
    accounts = {"invites": imap_account}
    run = support.cli(config, "run", "--once", accounts=accounts)

    # SQL: every name is stored exactly as sent, and the clients table survived.
    listed = json.loads(support.cli(config, "clients", "list", "--json", accounts=accounts).stdout)
    assert sorted(c["name"] for c in listed) == sorted(HOSTILE_NAMES)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(text("SELECT name FROM clients")).scalars())
            subjects = set(connection.execute(text("SELECT subject FROM messages")).scalars())
    finally:
        engine.dispose()
    assert stored == set(HOSTILE_NAMES)
    # The parser already turns the subject's line breaks into spaces; the rest is kept as sent.
    assert "Invitation X Bcc: victim@example.com  <b>body</b>" in subjects

    # Mail headers: one digest, to the configured recipient only, with a one-line subject.
    received = smtp_server.wait_for(1, timeout=10)
    assert len(received) == 1
    assert received[0].rcpt_tos == ("dana@firm.example",)
    digest = received[0].message
    assert digest["Bcc"] is None
    assert "\r" not in str(digest["Subject"]) and "\n" not in str(digest["Subject"])
    raw_digest = bytes(digest)
    assert b"\nBcc:" not in raw_digest and b"victim@example.com\r\n\r\n" not in raw_digest

    # HTML: every hostile value shows as text, never as markup.
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    plain = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert "<b>body</b>" not in html
    assert "&#39;); DROP TABLE clients;--" in html or "'); DROP TABLE clients;--" in html
    for part in (html, plain):
        # Line ends in a mail body are CRLF by definition; only the other controls matter here.
        for char in RAW_CONTROLS[:-1]:
            assert char not in part
        assert "Bcc: victim@example.com" not in [line.strip() for line in part.splitlines()]

    # Logs and the terminal: control and bidi characters arrive escaped.
    table = support.cli(config, "clients", "list", accounts=accounts).stdout
    for output in (run.stdout, run.stderr, table):
        for char in RAW_CONTROLS:
            assert char not in output
    assert "\\x1b[31mRed Ltd\\x1b[0m" in table
    assert "\\u202e" in table
    assert "<evil\\x1b[2J\\u202e@attacker.example>" in run.stderr
