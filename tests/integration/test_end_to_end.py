"""End to end through the real command line, a real Dovecot and a real SMTP server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration


def flags_by_subject(account: ImapAccount) -> dict[str, set[bytes]]:
    with account.client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    out = {}
    for item in data.values():
        header = item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip()
        out[header.removeprefix("Subject: ")] = set(item[b"FLAGS"])
    return out


def test_invitation_becomes_client_and_digest_exactly_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """An invitation in a real inbox is registered, flagged, and reported once."""
    imap_account.append(
        mailfactory.invitation(
            tenant="kestrel.onmicrosoft.com",
            company="Kestrel Joinery Ltd",
            hub_name="Kestrel Joinery",
            message_id="<inv-1@kestrel-joinery.example>",
        )
    )
    imap_account.append(mailfactory.ordinary("Lunch on Friday?"))
    imap_account.append(mailfactory.lookalike())
    imap_account.append(b"\x00\xff garbage that is not an email \r\n\r\n\x80\x81")
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts={"invites": imap_account},
        database_url=database_url,
        smtp=smtp_server,
    )

    first = support.cli(config, "run", "--once", accounts={"invites": imap_account})
    assert "invites: 4 new message(s)" in first.stdout

    clients = json.loads(
        support.cli(config, "clients", "list", "--json", accounts={"invites": imap_account}).stdout
    )
    assert len(clients) == 1
    client = clients[0]
    assert client["client_url"] == "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com"
    assert client["name"] == "Kestrel Joinery"
    assert client["status"] == "registered"
    assert client["access_link"] == (
        "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1"
    )
    assert client["add_client_link"].startswith("https://accountants.dynamics.com/?page=21")
    assert {"id", "name", "client_url", "status", "access_link", "add_client_link"} <= set(client)

    # Every handled message carries the processed keyword; reading never marked mail as seen.
    flags = flags_by_subject(imap_account)
    invitation_flags = flags["You have been invited to Dynamics 365 Business Central"]
    assert b"$AcchubProcessed" in invitation_flags
    assert b"\\Seen" not in invitation_flags
    assert b"$AcchubProcessed" in flags["Lunch on Friday?"]

    received = smtp_server.wait_for(1, timeout=10)
    assert len(received) == 1
    digest = received[0].message
    assert received[0].rcpt_tos == ("dana@firm.example",)
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert "Kestrel Joinery" in part
        assert "kestrel.onmicrosoft.com?redirectedfromsignup=1" in part
        # The look-alike is reported, defanged, never as a link.
        assert "evil" in part
    assert 'href="https://businesscentral.dynamics.com.evil.example' not in html

    second = support.cli(config, "run", "--once", accounts={"invites": imap_account})
    assert "invites: 0 new message(s)" in second.stdout
    clients_again = json.loads(
        support.cli(config, "clients", "list", "--json", accounts={"invites": imap_account}).stdout
    )
    assert len(clients_again) == 1
    # No second digest for the same events: run --once returns after any sending is done.
    assert len(smtp_server.received) == 1


def test_same_invitation_twice_registers_one_client(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """Two copies of one invitation (and a later one for the same tenant) make one client."""
    raw = mailfactory.invitation(tenant="osprey.onmicrosoft.com", company="Osprey Bakery")
    imap_account.append(raw)
    imap_account.append(raw)
    config = support.write_config(
        tmp_path / "config.yaml",
        accounts={"invites": imap_account},
        database_url=database_url,
        smtp=smtp_server,
    )
    support.cli(config, "run", "--once", accounts={"invites": imap_account})
    imap_account.append(
        mailfactory.invitation(tenant="Osprey.onmicrosoft.com", company="Osprey Bakery SA")
    )
    support.cli(config, "run", "--once", accounts={"invites": imap_account})
    clients = json.loads(
        support.cli(config, "clients", "list", "--json", accounts={"invites": imap_account}).stdout
    )
    assert [c["client_url"] for c in clients] == [
        "https://businesscentral.dynamics.com/osprey.onmicrosoft.com"
    ]


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    """A wrong value stops start-up with the key's path in the message, exit code 1."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "mailboxes:\n  - name: a\n    imap: {host: h, port: 70000, username: u, password_env: X}\n",
        encoding="utf-8",
    )
    result = support.cli(config, "check-config", accounts={}, check=False)
    assert result.returncode != 0
    assert "mailboxes[0].imap.port" in result.stderr
