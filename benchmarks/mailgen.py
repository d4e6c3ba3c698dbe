"""A deterministic mailbox for the benchmark: ordinary mail, large attachments and invitations.

The mix follows the issue's measurement: 1% invitations (every shape the corpus has: forwards,
attachments, gateway-wrapped links, encodings, plus generated ones with unique tenants so that
each registers a client), 2% messages carrying a 2 MB PDF (base64), and ordinary mail -- plain
notes, replies quoting earlier mail, HTML newsletters (some with Microsoft links that are not
invitations), and the corpus's look-alikes and negatives. Every message comes with the verdict
the detector must reach, so a run also proves the scan decided everything correctly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import yaml

from acchub_mailbot.core.links import safe_links_wrap
from tests.mailfactory import invitation

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
ATTACHMENT_BYTES = 2 * 1024 * 1024

_TEXT = (
    "invoice quarter ledger payroll audit balance forecast meeting budget review client "
    "statement reconciliation deadline report tax return expense approval schedule office "
    "project update team call notes draft final version agenda summary pension cash flow "
    "vendor contract renewal training workshop holiday lunch parking coffee printer"
)
_WORDS = tuple(_TEXT.split())
_NEWSLETTER_LINKS = (
    "https://news.example.org/articles/{n}",
    "https://shop.example.com/p/{n}?utm_source=newsletter&utm_medium=email",
    "https://go.microsoft.com/fwlink/?linkid={n}",
    "https://dynamics.microsoft.com/en-us/business-central/overview/?ref={n}",
    "https://learn.microsoft.com/en-us/dynamics365/business-central/whatsnew/{n}",
    "https://www.linkedin.com/feed/update/urn:li:activity:{n}",
    "https://click.mailer.example.net/ls/click?upn=a{n}b-2Fx-3D&amp;c={n}",
)


@dataclass(frozen=True)
class Generated:
    """One message of the mailbox and the verdict the detector must reach for it."""

    raw: bytes
    verdict: str
    kind: str
    client_url: str | None = None


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(_sentence(rng, rng.randint(8, 18)) for _ in range(4)) for _ in range(count)]


def _base(rng: random.Random, i: int, subject: str, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "dana@firm.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
    msg["Message-ID"] = f"<bench-{i}-{rng.randrange(10**9)}@mail.example>"
    return msg


def plain(rng: random.Random, i: int) -> bytes:
    msg = _base(rng, i, _sentence(rng, 4)[:-1], f"colleague{i % 40}@firm.example")
    msg.set_content("\n\n".join(_paragraphs(rng, rng.randint(2, 5))) + "\n\n-- \nRegards\n")
    return msg.as_bytes()


def reply(rng: random.Random, i: int) -> bytes:
    quoted = "\n".join("> " + line for line in "\n".join(_paragraphs(rng, 4)).splitlines())
    msg = _base(rng, i, "Re: " + _sentence(rng, 3)[:-1], f"client{i % 70}@clients.example")
    msg["In-Reply-To"] = f"<earlier-{i}@firm.example>"
    msg.set_content(_paragraphs(rng, 1)[0] + "\n\nOn Monday you wrote:\n" + quoted + "\n")
    return msg.as_bytes()


def newsletter(rng: random.Random, i: int) -> bytes:
    msg = _base(rng, i, "Weekly digest: " + _sentence(rng, 5)[:-1], "news@newsletter.example")
    blocks = []
    for paragraph in _paragraphs(rng, rng.randint(6, 14)):
        link = rng.choice(_NEWSLETTER_LINKS).format(n=rng.randrange(10**6))
        blocks.append(
            '<tr><td style="padding:12px;font-family:Arial,sans-serif;font-size:14px">'
            f'<p>{paragraph}</p><p><a href="{link}" style="color:#0067b8">Read more</a></p>'
            "</td></tr>"
        )
    html = (
        "<html><head><style>td{color:#333}</style><title>Digest</title></head><body>"
        '<table width="600" cellpadding="0" cellspacing="0">'
        + "".join(blocks)
        + "</table></body></html>"
    )
    msg.set_content("\n\n".join(_paragraphs(rng, 2)))
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def with_attachment(rng: random.Random, i: int) -> bytes:
    msg = _base(rng, i, "Scanned documents " + str(i), f"scanner{i % 5}@firm.example")
    msg.set_content("Please find the scanned documents attached.\n\n" + _paragraphs(rng, 1)[0])
    payload = b"%PDF-1.7\n" + rng.randbytes(ATTACHMENT_BYTES - 9)
    msg.add_attachment(payload, maintype="application", subtype="pdf", filename=f"scan-{i}.pdf")
    return msg.as_bytes()


def _forward_as_attachment(rng: random.Random, i: int, original: bytes) -> bytes:
    msg = _base(
        rng,
        i,
        "Fwd: You have been invited to Dynamics 365 Business Central",
        "partner@firm.example",
    )
    msg.set_content("See the invitation below, forwarded as an attachment.")
    msg.add_attachment(message_from_bytes(original, policy=policy.default))
    return msg.as_bytes()


def generated_invitation(rng: random.Random, i: int, variant: int) -> Generated:
    tenant = f"bench-client-{i}.onmicrosoft.com"
    company = f"Bench Client {i} Ltd"
    link1 = f"https://businesscentral.dynamics.com/{tenant}?redirectedfromsignup=1"
    message_id = f"<bench-invite-{i}@bench-client-{i}.example>"
    client_url = f"https://businesscentral.dynamics.com/{tenant}"
    if variant == 0:
        raw = invitation(tenant=tenant, company=company, message_id=message_id)
    elif variant == 1:
        raw = invitation(tenant=tenant, company=company, message_id=message_id, hub_name=company)
    elif variant == 2:
        wrapped = safe_links_wrap(link1, region="eur02")
        raw = invitation(tenant=tenant, company=company, message_id=message_id, link1=wrapped)
    else:
        raw = _forward_as_attachment(
            rng, i, invitation(tenant=tenant, company=company, message_id=message_id)
        )
    return Generated(raw, "invitation", f"generated-{variant}", client_url)


def _corpus() -> tuple[list[Generated], list[Generated]]:
    """Corpus invitations with distinct client URLs, and every other labelled corpus message."""
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text(encoding="utf-8"))
    invitations: list[Generated] = []
    others: list[Generated] = []
    urls: set[str] = set()
    for entry in manifest["entries"]:
        raw = (CORPUS / entry["file"]).read_bytes()
        verdict = entry["verdict"]
        if verdict == "invitation":
            url = entry.get("client_url")
            if url in urls:
                continue
            urls.add(url)
            invitations.append(Generated(raw, verdict, "corpus:" + entry["file"], url))
        else:
            others.append(Generated(raw, verdict, "corpus:" + entry["file"]))
    return invitations, others


def mailbox(total: int, seed: int = 20260101) -> list[Generated]:
    """``total`` messages: 1% invitations, 2% with a 2 MB attachment, the rest ordinary."""
    rng = random.Random(seed)
    corpus_invites, corpus_others = _corpus()
    invites = max(1, total // 100)
    attachments = max(1, total * 2 // 100)
    chosen: list[Generated] = corpus_invites[: min(len(corpus_invites), invites * 36 // 100)]
    for n in range(invites - len(chosen)):
        chosen.append(generated_invitation(rng, n, n % 4))
    others = corpus_others[: max(0, min(len(corpus_others), total // 100))]
    messages: list[Generated] = [*chosen, *others]
    for n in range(attachments):
        messages.append(Generated(with_attachment(rng, n), "not_invitation", "attachment"))
    builders = ((plain, 45), (reply, 20), (newsletter, 35))
    kinds = [b for b, weight in builders for _ in range(weight)]
    n = len(messages)
    while len(messages) < total:
        build = rng.choice(kinds)
        messages.append(Generated(build(rng, n), "not_invitation", build.__name__))
        n += 1
    rng.shuffle(messages)
    return messages[:total]


def small_messages(count: int, seed: int = 7) -> Iterator[bytes]:
    """Cheap filler for the 100,000-message mailbox (only "nothing new" is timed there)."""
    rng = random.Random(seed)
    for i in range(count):
        yield plain(rng, i)


__all__ = ["Generated", "mailbox", "small_messages"]
