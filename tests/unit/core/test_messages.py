"""Parsing raw mail into :class:`Message`: MIME shapes, encodings, charsets, hostile input."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.inspect import inspect_bytes
from acchub_mailbot.core.messages import decode_bytes, header_summary, parse_message
from acchub_mailbot.handlers.base import Verdict

LINK1 = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1"


def _headers(subject: str = "You have been invited to Dynamics 365 Business Central") -> bytes:
    return (
        "From: Admin <admin@client.example>\r\nTo: acc@firm.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <m1@client.example>\r\n"
        "Date: Fri, 01 Sep 2023 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    ).encode()


def test_html_only_business_central_body() -> None:
    """An HTML-only body with ``</br>`` breaks is kept as HTML; headers are decoded."""
    raw = _headers() + (
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"  # noqa: E501 - one table row per line reads best
        b"Hello,</br>Kestrel Ltd</br></br>Open the following link.</br>" + LINK1.replace("=", "=3D").encode()  # noqa: E501 - one table row per line reads best
        + b"</br>\r\n"
    )  # fmt: skip
    message = parse_message(raw)
    assert message.html.count("</br>") == 5 and LINK1 in message.html
    assert message.text == ""
    assert message.subject == "You have been invited to Dynamics 365 Business Central"
    assert message.sender == "admin@client.example"
    assert message.sender_name == "Admin"
    assert message.to == ("acc@firm.example",)
    assert message.message_id == "<m1@client.example>"
    assert message.date is not None and message.date.year == 2023
    assert message.content_type == "text/html"


def test_text_only_and_alternative() -> None:
    """text/plain alone, and both halves of multipart/alternative, are collected."""
    plain = parse_message(_headers() + b"Content-Type: text/plain\r\n\r\nhello " + LINK1.encode())
    assert plain.text.strip() == f"hello {LINK1}" and plain.html == ""
    alt = EmailMessage()
    alt["Subject"] = "s"
    alt.set_content("plain part")
    alt.add_alternative("<p>html part</p>", subtype="html")
    message = parse_message(alt.as_bytes())
    assert message.content_type == "multipart/alternative"
    assert message.text.strip() == "plain part"
    assert message.html.strip() == "<p>html part</p>"


def test_forward_as_attachment_is_kept_apart() -> None:
    """An attached message/rfc822 becomes ``attached``; its bodies stay out of the outer ones."""
    inner = EmailMessage()
    inner["Subject"] = "You have been invited to Dynamics 365 Business Central"
    inner["Message-ID"] = "<inner@client.example>"
    inner.set_content(f"Open the following link.</br>{LINK1}</br>", subtype="html")
    outer = EmailMessage()
    outer["Subject"] = "Fwd: invitation"
    outer["Message-ID"] = "<outer@firm.example>"
    outer.set_content("see attached")
    outer.add_alternative("<p>see attached</p>", subtype="html")
    outer.add_attachment(inner)
    message = parse_message(outer.as_bytes())
    assert LINK1 not in message.text and LINK1 not in message.html
    assert message.text.strip() == "see attached"
    assert len(message.attached) == 1
    assert message.attached[0].message_id == "<inner@client.example>"
    assert LINK1 in message.attached[0].html
    assert "message/rfc822" in message.part_types


def test_nested_attachments_and_depth_limit() -> None:
    """A forward of a forward is two levels deep; ``max_depth`` bounds the recursion."""
    level0 = EmailMessage()
    level0["Message-ID"] = "<l0@x>"
    level0.set_content("original")
    level1 = EmailMessage()
    level1.set_content("middle")
    level1.add_attachment(level0)
    level2 = EmailMessage()
    level2.set_content("outer")
    level2.add_attachment(level1)
    message = parse_message(level2.as_bytes())
    assert message.attached[0].attached[0].message_id == "<l0@x>"
    assert message.attached[0].attached[0].text.strip() == "original"
    assert parse_message(level2.as_bytes(), max_depth=1).attached[0].attached == ()


def test_eml_file_attached_as_octet_stream() -> None:
    """Some clients attach a saved .eml as a generic file; it is still the original message."""
    inner = _headers() + b"Content-Type: text/plain\r\n\r\n" + LINK1.encode()
    outer = EmailMessage()
    outer.set_content("see file")
    outer.add_attachment(inner, maintype="application", subtype="octet-stream", filename="x.eml")
    message = parse_message(outer.as_bytes())
    assert len(message.attached) == 1 and LINK1 in message.attached[0].text


@pytest.mark.parametrize(
    ("content_type", "cte", "body", "expected"),
    [
        ("text/plain; charset=iso-8859-1", "quoted-printable", b"Soci=E9t=E9 M=FCller", "Société Müller"),  # noqa: E501 - one table row per line reads best
        ("text/plain; charset=windows-1252", "8bit", b"\x93Caf\xe9\x94 \x80", "\u201cCafé\u201d €"),
        ("text/plain; charset=utf-8", "base64", b"w4VrZXNzb24gQnlnZyBBQg==", "Åkesson Bygg AB"),
        ("text/plain", "8bit", "Bäckerei".encode(), "Bäckerei"),
        ("text/plain", "8bit", b"Boulangerie Dupr\xe9", "Boulangerie Dupré"),
        ("text/plain; charset=x-unknown", "8bit", b"Caf\xe9", "Café"),
    ],
)  # fmt: skip
def test_charsets_and_transfer_encodings(
    content_type: str, cte: str, body: bytes, expected: str
) -> None:
    """Declared, mislabelled, unknown and undeclared charsets all decode without raising."""
    raw = _headers() + (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + body
    )
    assert parse_message(raw).text.strip() == expected


def test_encoded_subject() -> None:
    """RFC 2047 subjects are decoded."""
    raw = _headers("=?utf-8?q?Vous_avez_=C3=A9t=C3=A9_invit=C3=A9?=") + b"\r\nbody"
    assert parse_message(raw).subject == "Vous avez été invité"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n",
        b'Content-Type: text/plain; charset="\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!',
        b"Subject: =?bogus?x?abc?=\r\nFrom: <<<@>>>\r\nDate: yesterday\r\n\r\nbody",
        b"Content-Type: message/rfc822\r\n\r\nnot really a message",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 200,
    ],
)
def test_malformed_input_never_raises(raw: bytes) -> None:
    """Whatever the bytes, a Message comes back."""
    message = parse_message(raw)
    assert isinstance(message.text, str) and isinstance(message.subject, str)


def test_decode_bytes_falls_back() -> None:
    """A wrong declaration falls back to UTF-8, then windows-1252, then latin-1."""
    assert decode_bytes("é".encode(), "us-ascii") == "é"
    assert decode_bytes(b"\xe9", "utf-8") == "é"
    assert decode_bytes(b"\x81", None) == "\x81"


def test_header_summary_reads_what_the_parser_reads() -> None:
    """Folded, encoded and 8-bit headers give the values the full parser gives; the body and
    headers of attached messages are never read."""
    raw = (
        b"Message-ID:\r\n <abc@example.com>\r\n"
        b"Subject: =?utf-8?q?Vous_avez_=C3=A9t=C3=A9?=\r\n =?utf-8?q?_invit=C3=A9?=\r\n"
        b"From: =?iso-8859-1?q?Ren=E9?= <rene@example.com>\r\n"
        b"Content-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\nFrom: inner@example.com\r\n\r\nbody"
    )
    message_id, subject, sender = header_summary(raw)
    parsed = parse_message(raw)
    assert message_id == "<abc@example.com>" == parsed.message_id
    assert subject == "Vous avez été invité" == parsed.subject
    assert sender == "René <rene@example.com>"
    assert header_summary("Subject: Grüße\n\n".encode()) == (None, "Grüße", None)
    assert header_summary(b"Subject: caf\xe9\n\n") == (None, "café", None)
    assert header_summary(b"From: a@b\r\n\r\nSubject: in the body") == (None, None, "a@b")


@pytest.mark.parametrize("raw", [b"", b"\x00\xff", b"Subject: =?bogus?x?abc?=\r\n", b":" * 70000])
def test_header_summary_never_raises(raw: bytes) -> None:
    assert len(header_summary(raw)) == 3


_MIME_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/html; charset=bogus\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"\r\n--b\r\n",
        b"\r\n",
        b"Subject: =?utf-8?b?w6k=?=\r\n",
        b"<a href='https://eur01.safelinks.protection.outlook.com/?url=%zz'>x</a></br>",
        b"\xe9\xff\x00",
    ]
)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.one_of(_MIME_PIECES, st.binary(max_size=40)), max_size=30))
def test_parse_and_inspect_never_raise(pieces: list[bytes]) -> None:
    """Random MIME-ish bytes always parse, and inspection always answers with a verdict."""
    raw = b"".join(pieces)
    assert isinstance(parse_message(raw).html, str)
    assert inspect_bytes(raw, "fuzz")["verdict"] in {v.value for v in Verdict}
