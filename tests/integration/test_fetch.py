"""The planned fetch against a real Dovecot: the fast FETCH reader reads what imapclient reads,
a message fetched as its header and text sections is decided as the whole message is, and a
prefilter worker process changes nothing but where the work is done.

Every corpus email is used, plus messages whose BODYSTRUCTURE Dovecot sends with literals and
quotes (8-bit and quoted parameter values), a 2 MB attachment and a forward as attachment.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient.response_parser import parse_fetch_response

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.config import ImapSettings, parse_settings
from acchub_mailbot.core import bodyparts
from acchub_mailbot.core.messages import header_summary
from acchub_mailbot.core.prefilter import message_could_be_invitation
from acchub_mailbot.mail import inbox as inbox_module
from acchub_mailbot.mail.fetchreader import parse_fetch
from acchub_mailbot.mail.inbox import Inbox
from acchub_mailbot.mail.sifting import Sifter
from tests.mailfactory import invitation
from tests.servers.dovecot import ImapAccount

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _odd_messages() -> list[bytes]:
    """Structures that make Dovecot use literals and escapes in its BODYSTRUCTURE."""
    out = []
    eight_bit = (
        b"From: a@example.com\r\nSubject: odd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
        b'--b\r\nContent-Type: application/pdf; name="r\xc3\xa9sum\xc3\xa9 \\"x\\".pdf"\r\n'
        b'Content-Disposition: attachment; filename="r\xc3\xa9sum\xc3\xa9 \\"x\\".pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
    )
    out.append(eight_bit)
    big = EmailMessage()
    big["From"], big["Subject"] = "b@example.com", "scan"
    big.set_content("see attached")
    big.add_attachment(b"%PDF" + b"\0" * 2_000_000, "application", "pdf", filename="scan.pdf")
    out.append(big.as_bytes())
    forward = EmailMessage()
    forward["From"], forward["Subject"] = "c@example.com", "Fwd: access"
    forward.set_content("forwarded")
    forward.add_attachment(
        invitation(tenant="attached.onmicrosoft.com", company="Attached Ltd"),
        "message",
        "rfc822",
    )
    out.append(forward.as_bytes())
    return out


@pytest.fixture
def seeded(imap_account: ImapAccount) -> list[bytes]:
    messages = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))] + _odd_messages()
    with imap_account.client() as client:
        for raw in messages:
            client.append("INBOX", raw)
    return messages


def _settings(account: ImapAccount) -> ImapSettings:
    data = {
        "mailboxes": [
            {
                "name": "fetch",
                "imap": {
                    "host": account.host,
                    "port": account.port,
                    "security": "starttls",
                    "username": account.username,
                    "password_env": "ACCHUB_FETCH_TEST_PASSWORD",
                    "ca_file": str(account.ca_file),
                    "timeout_seconds": 30,
                },
            }
        ],
    }
    settings = parse_settings(data, environ={"ACCHUB_FETCH_TEST_PASSWORD": account.password})
    return settings.mailboxes[0].imap


@pytest.fixture
def inbox(imap_account: ImapAccount, seeded: list[bytes]) -> Iterator[Inbox]:
    with Inbox(_settings(imap_account), mailbox="fetch") as box:
        box.select()
        yield box


def _flat(value: Any) -> Any:
    """imapclient's BodyData nests a multipart's children in a list; the plain form does not."""
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for item in value:
            if isinstance(item, list):
                out.extend(_flat(child) for child in item)
            else:
                out.append(_flat(item))
        return tuple(out)
    return value


def _both(
    inbox: Inbox, uids: list[int], items: str
) -> tuple[dict[int, Any], dict[int, Any], list[Any]]:
    """One UID FETCH, read by both readers; also imaplib's raw data."""
    imap = inbox.client._imap
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), items)
    assert typ == "OK"
    return parse_fetch(data), dict(parse_fetch_response(data, True, True)), data


def test_fast_reader_reads_what_imapclient_reads(inbox: Inbox, seeded: list[bytes]) -> None:
    uids = inbox.uids_after(0)
    assert len(uids) == len(seeded)
    ours, theirs, data = _both(inbox, uids, "(BODYSTRUCTURE RFC822.SIZE FLAGS)")
    assert set(ours) == set(theirs) == set(uids)
    # The 8-bit file name with quotes made Dovecot send literals inside BODYSTRUCTURE.
    assert any(isinstance(piece, tuple) for piece in data)
    for uid in uids:
        assert {k: _flat(v) for k, v in ours[uid].items()} == {
            k: _flat(v) for k, v in theirs[uid].items()
        }
        assert bodyparts.plan(ours[uid][b"BODYSTRUCTURE"]) == bodyparts.plan(
            theirs[uid][b"BODYSTRUCTURE"]
        )
    groups: dict[tuple[str, ...], list[int]] = {}
    for uid in uids:
        planned = bodyparts.plan(ours[uid][b"BODYSTRUCTURE"])
        if not planned.whole:
            groups.setdefault(planned.sections, []).append(uid)
    assert len(groups) > 3
    for sections, members in groups.items():
        items = f"({' '.join(bodyparts.fetch_items(sections))})"
        got, expected, _ = _both(inbox, members, items)
        assert got == expected


def test_planned_fetch_decides_like_the_whole_message(inbox: Inbox, seeded: list[bytes]) -> None:
    uids = inbox.uids_after(0)
    planned = {m.uid: m for m in inbox.fetch(uids, prefilter=False)}
    filtered = {m.uid: m for m in inbox.fetch(uids, prefilter=True)}
    whole = {uid: inbox.client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] for uid in uids}
    assert set(planned) == set(filtered) == set(uids)
    kept = 0
    for uid in uids:
        _, expected = decide_bytes(whole[uid])
        _, got = decide_bytes(planned[uid].raw)
        assert got.verdict == expected.verdict, uid
        assert planned[uid].size == len(whole[uid])
        if filtered[uid].prefiltered:
            assert expected.verdict.value == "not_invitation"
            assert not message_could_be_invitation(whole[uid])
        else:
            kept += 1
    # The corpus is mostly invitations and look-alikes: the prefilter must keep those.
    assert kept >= len(uids) // 2
    big = next(uid for uid in uids if planned[uid].size > 2_000_000)
    assert len(planned[big].raw) < 10_000  # the attachment body was never fetched


def test_a_prefilter_worker_fetches_what_the_polling_thread_fetches(
    inbox: Inbox, seeded: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sifted in a worker process, chunk after chunk (small chunks, so that several are in
    flight), the fetch yields exactly what sifting in the calling thread yields."""
    monkeypatch.setattr(inbox_module, "META_CHUNK", 16)
    uids = inbox.uids_after(0)
    inline = list(inbox.fetch(uids, prefilter=True))
    sifter = Sifter(1, min_pooled=1)
    try:
        pooled = list(inbox.fetch(uids, prefilter=True, sifter=sifter))
        assert sifter._started and sifter._started[0].alive  # the worker did the sifting
    finally:
        sifter.close()
    assert [m.uid for m in pooled] == [m.uid for m in inline] == sorted(uids)
    assert pooled == inline
    assert any(m.prefiltered for m in pooled) and not all(m.prefiltered for m in pooled)
    for message in pooled:
        if message.prefiltered:
            assert message.summary == header_summary(message.raw)
