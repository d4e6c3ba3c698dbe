"""Generators of hostile and broken mail around real invitation shapes, for the fuzz tests.

Three sources: byte-level mutations of the labelled corpus (``tests/corpus/*.eml``), MIME trees
built from scratch (any nesting, content types, charsets, transfer encodings, encoded-word
headers, attached messages) whose text parts carry invitation-shaped HTML, and invitations whose
headers and HTML are mutated. ``ACCHUB_FUZZ_EXAMPLES`` scales how many examples each test runs
(``scripts/fuzz.sh`` raises it); ``ACCHUB_FUZZ_SAVE=1`` makes :func:`saving_crashes` keep the
smallest input of every distinct crash under ``tests/fuzz/regressions/``, where
``test_fuzz_pipeline.py`` replays it for ever after.
"""

from __future__ import annotations

import base64
import hashlib
import os
import quopri
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import strategies as st

from tests import mailfactory

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
SEEDS: tuple[bytes, ...] = tuple(p.read_bytes() for p in sorted(CORPUS.glob("*.eml")))


def examples(default: int) -> int:
    """How many examples a fuzz test runs: ``default`` in CI, scaled by ``ACCHUB_FUZZ_SCALE``."""
    scale = float(os.environ.get("ACCHUB_FUZZ_SCALE", "1"))
    return max(1, int(default * scale))


@contextmanager
def saving_crashes(raw: bytes, test_name: str) -> Iterator[None]:
    """Keep the smallest input of each distinct crash (by exception type and raising line)."""
    try:
        yield
    except Exception as exc:
        if os.environ.get("ACCHUB_FUZZ_SAVE") == "1":
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{type(exc).__name__}:{Path(frame.filename).name}:{frame.lineno}"
            key = hashlib.sha256(where.encode()).hexdigest()[:12]
            path = REGRESSIONS / f"{test_name}-{key}.eml"
            if not path.exists() or len(raw) < path.stat().st_size:
                REGRESSIONS.mkdir(parents=True, exist_ok=True)
                path.write_bytes(raw)
        raise


# --- Byte-level mutations of real messages --------------------------------------------------------

#: Fragments that matter to MIME and HTML parsers, spliced in at random places.
TOKENS = (
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", b"\x00", b"\xff\xfe", b"=?utf-8?b?", b"?=",
    b"=?x-unknown?q?=FF?=", b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"charset=\"x-bogus\"", b"=\r\n", b"=4",
    b"<a href=\"", b"\">", b"</a>", b"<!--", b"-->", b"<![CDATA[", b"&#x", b"&amp;", b"</br>",
    b"<script>", b"\x1b[31m", "\u202e".encode(), b"%00", b"%2F%2F", b"redirectedfromsignup=1",
    b"https://businesscentral.dynamics.com/", b"https://eur02.safelinks.protection.outlook.com/?url=",
    b"https://urldefense.com/v3/__", b"Customer.'Client Link' IS '''", b"boundary=",
)  # fmt: skip


@st.composite
def mutated_corpus(draw: st.DrawFn) -> bytes:
    """A corpus email with a few byte-level edits: flips, inserts, deletes, splices, cuts."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(("flip", "insert", "token", "delete", "dup", "splice", "cut")))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 512))] * draw(st.integers(1, 4))
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other)))
            data[at:] = other[start:]
        elif op == "cut":
            del data[at:]
    return bytes(data)


# --- MIME trees built from scratch ----------------------------------------------------------------

CHARSETS = (
    "utf-8", "iso-8859-1", "windows-1252", "utf-16", "shift_jis", "koi8-r", "us-ascii",
    "x-unknown", "", "utf-8\"; foo=\"", "utf-7",
)  # fmt: skip
ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "bogus")
SUBTYPES = ("mixed", "alternative", "related", "report", "signed", "digest", "x-weird")
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_COMPANY = st.one_of(
    st.sampled_from(
        (
            "Kestrel Joinery Ltd",
            "'); DROP TABLE clients;--",
            '"><img src=x onerror=alert(1)>',
            "X\r\nBcc: victim@example.com",
            "\x1b[31mRed\u202eevil",
            "Ærø Fløde & Søn",
        )
    ),
    _TEXT,
)


@st.composite
def invitation_html(draw: st.DrawFn) -> str:
    """The body Business Central writes, with a generated company, tenant and link variants."""
    tenant = draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}\.onmicrosoft\.com", fullmatch=True))
    host = draw(
        st.sampled_from(
            (
                "businesscentral.dynamics.com",
                "businesscentral.dynamics.com.evil.example",
                "dynamlcs.com",
                "xn--businesscentrl-xyz.com",
                "127.0.0.1",
            )
        )
    )
    link = f"https://{host}/{tenant}?redirectedfromsignup=1"
    wrap = draw(st.sampled_from(("", "safelinks", "proofpoint", "mimecast")))
    if wrap == "safelinks":
        from acchub_mailbot.core.links import safe_links_wrap

        link = safe_links_wrap(link)
    elif wrap == "proofpoint":
        from acchub_mailbot.core.links import proofpoint_v3_wrap

        link = proofpoint_v3_wrap(link)
    elif wrap == "mimecast":
        from acchub_mailbot.core.links import mimecast_wrap

        link = mimecast_wrap(link)
    company = draw(_COMPANY)
    body = (
        f"Hello Dana,</br>Please accept this invitation.</br></br>{company}</br></br>"
        f"Open the following link to verify that you can log in.</br>{link}</br>"
    )
    if draw(st.booleans()):
        body += f'<a href="{mailfactory.hub_link(link, company)}">here</a>'
    if draw(st.booleans()):
        body += draw(st.sampled_from(("<div>" * 50, "<!--", "<a href='", "&#99999999;", "<")))
    return body


def _encode(payload: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(payload)
    if encoding == "quoted-printable":
        return quopri.encodestring(payload)
    return payload


def _header_value(draw: st.DrawFn) -> str:
    """A header value: plain, RFC 2047 encoded (valid or broken), or hostile."""
    text = draw(_TEXT)
    kind = draw(st.sampled_from(("plain", "b", "q", "broken", "long")))
    if kind == "b":
        charset = draw(st.sampled_from(CHARSETS)) or "utf-8"
        data = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
        return f"=?{charset}?B?{data}?="
    if kind == "q":
        return f"=?utf-8?Q?{text.encode('utf-8').hex('=').upper()}?="
    if kind == "broken":
        return f"=?{text}?x?{text}"
    if kind == "long":
        return text * 50
    return text.replace("\r", " ").replace("\n", " ")


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME entity: a leaf, a multipart of further entities, or an attached message."""
    kinds = ["html", "text", "binary"]
    if depth < 4:
        kinds += ["multipart", "multipart", "rfc822"]
    kind = draw(st.sampled_from(kinds))
    headers: list[str] = []
    if kind == "multipart":
        boundary = draw(st.sampled_from(("b1", "=_x", "", "a b", "--", f"d{depth}")))
        headers.append(
            f'Content-Type: multipart/{draw(st.sampled_from(SUBTYPES))}; boundary="{boundary}"'
        )
        children = draw(st.lists(mime_part(depth + 1), max_size=4))
        body = b"preamble\r\n"
        for child in children:
            body += f"--{boundary}\r\n".encode() + child + b"\r\n"
        if draw(st.booleans()):
            body += f"--{boundary}--\r\n".encode()
        return "\r\n".join(headers).encode() + b"\r\n\r\n" + body
    if kind == "rfc822":
        inner = draw(message_tree(depth + 1))
        headers.append("Content-Type: message/rfc822")
        return "\r\n".join(headers).encode() + b"\r\n\r\n" + inner
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    if kind == "binary":
        ctype = draw(st.sampled_from(("application/octet-stream", "image/png", "text/calendar")))
        payload = draw(st.binary(max_size=200))
        name = draw(st.sampled_from(("a.bin", "invite.eml", "x.pdf", "")))
        headers.append(f'Content-Disposition: attachment; filename="{name}"')
    else:
        ctype = "text/html" if kind == "html" else "text/plain"
        text = draw(invitation_html()) if draw(st.booleans()) else draw(_TEXT)
        codec = charset if charset and charset.isascii() else "utf-8"
        try:
            payload = text.encode(codec, "replace")
        except LookupError:
            payload = text.encode("utf-8", "surrogatepass")
    headers.append(f'Content-Type: {ctype}; charset="{charset}"')
    headers.append(f"Content-Transfer-Encoding: {encoding}")
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + _encode(payload, encoding)


@st.composite
def message_tree(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A whole message: generated (often hostile) headers around a generated MIME body."""
    if draw(st.booleans()):
        subject = draw(
            st.sampled_from(
                ("You have been invited to Dynamics 365 Business Central", "FW: Invitation", "")
            )
        )
    else:
        subject = _header_value(draw)
    lines = [
        f"From: {_header_value(draw)} <{draw(st.sampled_from(('a@b.example', 'x', '')))}>",
        "To: dana@firm.example",
        f"Subject: {subject}",
        f"Message-ID: <{draw(_TEXT)}@fuzz>",
        f"Date: {draw(st.sampled_from(('Mon, 2 Nov 2026 09:30:00 +0000', 'yesterday', '')))}",
        "MIME-Version: 1.0",
    ]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(("X-Test", "Reply-To", "References", "Content-Type")))
        lines.append(f"{name}: {_header_value(draw)}")
    head = "\r\n".join(lines).encode("utf-8", "surrogateescape")
    return head + b"\r\n" + draw(mime_part(depth))


# --- Invitations with mutated headers and HTML ----------------------------------------------------


@st.composite
def mutated_invitation(draw: st.DrawFn) -> bytes:
    """A mailfactory invitation with hostile header lines and HTML fragments inserted."""
    raw = mailfactory.invitation(
        company=draw(_COMPANY).replace("\r", " ").replace("\n", " "),
        hub_name=draw(st.one_of(st.none(), _COMPANY.map(lambda s: " ".join(s.split())))),
        message_id="<fuzz@kestrel-joinery.example>",
    )
    head, sep, body = raw.partition(b"\n\n")
    extra = draw(
        st.lists(
            st.sampled_from(
                (
                    b"Subject: =?utf-8?q?=0D=0ABcc:_victim@example.com?=",
                    b'Content-Type: text/html; charset="utf-16"',
                    b"Content-Transfer-Encoding: base64",
                    b"X-Long: " + b"a" * 20000,
                    b"From: \x00\x1b[2J <evil@example.com>",
                    b"Content-Type: multipart/mixed; boundary=",
                    b"\tcontinuation without header",
                    b"Message-ID: " + b"<" * 500,
                )
            ),
            max_size=3,
        )
    )
    if extra:
        head += b"\n" + b"\n".join(extra)
    pieces = draw(st.lists(st.sampled_from(TOKENS), max_size=5))
    for piece in pieces:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + piece + body[at:]
    return head + (sep or b"\n\n") + body


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    "corpus": mutated_corpus,
    "tree": message_tree,
    "invitation": mutated_invitation,
}
