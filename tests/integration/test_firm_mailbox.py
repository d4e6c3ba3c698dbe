"""One mailbox for a whole firm, through the real command line, Dovecot and an SMTP server.

Accountants forward their clients' invitations to one address. Only listed forwarders whose domain
the receiving server vouched for register clients; each client belongs to whoever forwarded it;
each forwarder gets one confirmation reply and a digest of their own clients.

The receiving server is simulated by putting its ``Authentication-Results`` header on top of each
message appended to Dovecot, exactly where a real server would have prepended it.
"""

from __future__ import annotations

import email
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests import mailfactory, support
from tests.servers.dovecot import ImapAccount
from tests.servers.smtp import Received, SmtpServer

pytestmark = pytest.mark.integration

MX = "mx.firm.example"
ALICE = "alice@firm.example"
BOB = "bob@firm.example"
ADMIN = "admin@firm.example"
KESTREL_URL = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com"


def passing(sender: str) -> str:
    domain = sender.rpartition("@")[2]
    return f"{MX}; spf=pass smtp.mailfrom={sender}; dkim=pass header.d={domain}; dmarc=pass (p=reject) header.from={domain}"  # noqa: E501 - one header as a server writes it


def failing(sender: str) -> str:
    domain = sender.rpartition("@")[2]
    return f"{MX}; spf=fail smtp.mailfrom={sender}; dmarc=fail (p=none) header.from={domain}"


def forward(sender: str, auth_results: str | None, *, invitation_id: str, forward_id: str) -> bytes:
    """``sender`` forwards the Kestrel invitation as an attachment to the firm's mailbox."""
    original = email.message_from_bytes(
        mailfactory.invitation(
            tenant="kestrel.onmicrosoft.com", company="Kestrel Joinery", message_id=invitation_id
        )
    )
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = "invites@firm.example"
    outer["Subject"] = "FW: You have been invited to Dynamics 365 Business Central"
    outer["Message-ID"] = forward_id
    outer.set_content("A new client, please register it.")
    outer.add_attachment(original)
    top = f"Authentication-Results: {auth_results}\r\n".encode() if auth_results else b""
    return top + outer.as_bytes()


def config(tmp_path: Path, account: ImapAccount, smtp: SmtpServer, database_url: str) -> Path:
    mailbox: dict[str, Any] = {
        "forwarders": [ALICE, BOB],
        "trusted_authserv_id": MX,
        "confirm": {"enabled": True, "max_per_sender_per_hour": 10},
        "accountants": [{"address": ALICE, "language": "en"}, {"address": BOB, "language": "fr"}],
        "digest_to": ["forwarders", ADMIN],
    }
    return support.write_config(
        tmp_path / "config.yaml",
        accounts={"invites": account},
        database_url=database_url,
        smtp=smtp,
        mailbox_extra=mailbox,
    )


def confirmations(received: list[Received]) -> list[Received]:
    return [r for r in received if r.message.get("Auto-Submitted") == "auto-replied"]


def digests_to(received: list[Received], address: str) -> list[EmailMessage]:
    return [
        r.message
        for r in received
        if r.message.get("Auto-Submitted") == "auto-generated" and address in r.rcpt_tos
    ]


def clients(cfg: Path, account: ImapAccount, *args: str) -> list[dict[str, Any]]:
    out = support.cli(cfg, "clients", "list", "--json", *args, accounts={"invites": account})
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


def test_allowed_vouched_forward_registers_under_its_owner_and_is_confirmed_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """A DMARC-passing forward from a listed accountant registers the client under that owner
    and gets exactly one threaded, automatic confirmation reply."""
    cfg = config(tmp_path, imap_account, smtp_server, database_url)
    imap_account.append(
        forward(ALICE, passing(ALICE), invitation_id="<inv@k.example>", forward_id="<fw-a@f>")
    )
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})

    owned = clients(cfg, imap_account, "--owner", ALICE)
    assert [c["client_url"] for c in owned] == [KESTREL_URL]
    assert clients(cfg, imap_account, "--owner", BOB) == []

    smtp_server.wait_for(2, timeout=10)
    replies = confirmations(smtp_server.received)
    assert len(replies) == 1
    reply = replies[0]
    assert reply.rcpt_tos == (ALICE,)
    assert reply.message["In-Reply-To"] == "<fw-a@f>"
    assert "<fw-a@f>" in reply.message["References"]
    assert "Kestrel Joinery" in reply.message["Subject"]

    # A second poll (and a crash-free retry of delivery) sends nothing more.
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})
    assert len(confirmations(smtp_server.received)) == 1


@pytest.mark.parametrize(
    ("sender", "auth_results"),
    [
        ("mallory@elsewhere.example", passing("mallory@elsewhere.example")),
        (ALICE, failing(ALICE)),
        (ALICE, None),
        (ALICE, passing(ALICE).replace(MX, "mx.attacker.example")),
    ],
    ids=["outside-the-list", "dmarc-fail", "no-header", "someone-elses-header"],
)
def test_unvouched_or_unlisted_forward_registers_nothing_and_is_reported(
    tmp_path: Path,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    database_url: str,
    sender: str,
    auth_results: str | None,
) -> None:
    """A forward from outside the list, or without a passing header from our server, registers
    nothing and reaches the admins' digest as needing review."""
    cfg = config(tmp_path, imap_account, smtp_server, database_url)
    imap_account.append(
        forward(sender, auth_results, invitation_id="<inv@k.example>", forward_id="<fw@x>")
    )
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})
    assert clients(cfg, imap_account) == []
    smtp_server.wait_for(1, timeout=10)
    admin = digests_to(smtp_server.received, ADMIN)
    assert len(admin) == 1
    assert "Needs your attention" in support.text_of(admin[0])
    assert all(ALICE not in r.rcpt_tos or sender == ALICE for r in smtp_server.received)
    assert all("mallory@elsewhere.example" not in r.rcpt_tos for r in smtp_server.received)


def test_auto_reply_to_a_confirmation_triggers_no_further_mail(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """An out-of-office answering our confirmation is neither confirmed nor registered."""
    cfg = config(tmp_path, imap_account, smtp_server, database_url)
    imap_account.append(
        forward(ALICE, passing(ALICE), invitation_id="<inv@k.example>", forward_id="<fw-a@f>")
    )
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})
    smtp_server.wait_for(2, timeout=10)
    reply = confirmations(smtp_server.received)[0].message
    smtp_server.clear()

    auto = EmailMessage()
    auto["From"] = ALICE
    auto["To"] = "invites@firm.example"
    auto["Subject"] = f"Automatic reply: {reply['Subject']}"
    auto["Message-ID"] = "<ooo@firm.example>"
    auto["In-Reply-To"] = str(reply["Message-ID"])
    auto["References"] = str(reply["Message-ID"])
    auto["Auto-Submitted"] = "auto-replied"
    auto.set_content("I am out of the office until Monday.")
    top = f"Authentication-Results: {passing(ALICE)}\r\n".encode()
    imap_account.append(top + auto.as_bytes())
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})
    assert confirmations(smtp_server.received) == []


def test_two_accountants_one_client_two_owners_each_their_own_digest(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer, database_url: str
) -> None:
    """The same invitation forwarded by two accountants is one client with two owners, and each
    accountant's digest (in their language) lists it, while the admins see everything."""
    cfg = config(tmp_path, imap_account, smtp_server, database_url)
    imap_account.append(
        forward(ALICE, passing(ALICE), invitation_id="<inv@k.example>", forward_id="<fw-a@f>")
    )
    imap_account.append(
        forward(BOB, passing(BOB), invitation_id="<inv@k.example>", forward_id="<fw-b@f>")
    )
    support.cli(cfg, "run", "--once", accounts={"invites": imap_account})

    everything = clients(cfg, imap_account)
    assert len(everything) == 1
    shown = support.cli(
        cfg,
        "clients",
        "show",
        str(everything[0]["id"]),
        "--json",
        accounts={"invites": imap_account},
    )
    assert json.loads(shown.stdout)["owners"] == [ALICE, BOB]
    assert [c["id"] for c in clients(cfg, imap_account, "--owner", BOB)] == [everything[0]["id"]]

    smtp_server.wait_for(5, timeout=10)
    assert sorted(r.rcpt_tos for r in confirmations(smtp_server.received)) == [(ALICE,), (BOB,)]
    alice_digests = digests_to(smtp_server.received, ALICE)
    bob_digests = digests_to(smtp_server.received, BOB)
    assert len(alice_digests) == 1 and len(bob_digests) == 1
    assert all(ADMIN not in r.rcpt_tos for r in smtp_server.received if ALICE in r.rcpt_tos)
    assert "Kestrel Joinery" in support.text_of(alice_digests[0])
    assert "Kestrel Joinery" in support.text_of(bob_digests[0])
    assert str(bob_digests[0]["Subject"]).startswith("Invitations Business Central")
    assert str(alice_digests[0]["Subject"]).startswith("Business Central invitations")
    assert len(digests_to(smtp_server.received, ADMIN)) == 1
