"""Planning section fetches from BODYSTRUCTURE and reassembling them (core.bodyparts).

The BODYSTRUCTURE values below have the shapes imapclient returns from Dovecot: the top level's
parts nested in a list, an attached message's body left as the raw tuple. The end-to-end check
against a real Dovecot (every corpus message parses identically) runs in the benchmark.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from acchub_mailbot.core import bodyparts
from acchub_mailbot.core.messages import parse_message

TEXT = (b"TEXT", b"PLAIN", (b"CHARSET", b"utf-8"), None, None, b"7BIT", 120, 3, None, None)
HTML = (
    b"TEXT", b"HTML", (b"CHARSET", b"iso-8859-1"), None, None, b"QUOTED-PRINTABLE", 900, 20,
    None, None,
)  # fmt: skip
PDF = (
    b"APPLICATION", b"PDF", (b"NAME", b"scan.pdf"), None, None, b"BASE64", 2_800_000, None,
    (b"ATTACHMENT", (b"FILENAME", b"scan.pdf")), None,
)  # fmt: skip


def multipart(parts: list[object], subtype: bytes, boundary: bytes = b"b1") -> tuple[object, ...]:
    return (parts, subtype, (b"BOUNDARY", boundary), None, None)


def test_single_part_message_fetches_header_and_text() -> None:
    """A non-multipart message needs its header and its one body, nothing else."""
    plan = bodyparts.plan(TEXT)
    assert plan.sections == ("HEADER", "TEXT")
    assert not plan.whole


def test_attachments_are_never_fetched_but_their_headers_are() -> None:
    """A 2 MB PDF contributes only its MIME header; the text alternatives are fetched."""
    structure = multipart([multipart([TEXT, HTML], b"ALTERNATIVE", b"b2"), PDF], b"MIXED")
    plan = bodyparts.plan(structure)
    assert plan.sections == (
        "HEADER", "1.MIME", "1.1.MIME", "1.1", "1.2.MIME", "1.2", "2.MIME",
    )  # fmt: skip
    assert "2" not in plan.sections


def test_attached_message_is_walked_into() -> None:
    """A forward as attachment: the inner header and the inner text parts are fetched."""
    inner = ((b"TEXT", b"HTML", (b"CHARSET", b"utf-8"), None, None, b"BASE64", 500, 7),)
    inner_body = (*inner, b"MIXED", (b"BOUNDARY", b"in"), None, None)
    attached = (
        b"MESSAGE", b"RFC822", None, None, None, b"7BIT", 900, (None,) * 10, inner_body, 30,
        None, (b"ATTACHMENT", None), None,
    )  # fmt: skip
    plan = bodyparts.plan(multipart([TEXT, attached], b"MIXED"))
    assert plan.sections == (
        "HEADER", "1.MIME", "1", "2.MIME", "2.HEADER", "2.1.MIME", "2.1",
    )  # fmt: skip


def test_attached_message_with_a_single_body_uses_its_text_section() -> None:
    """The body of an attached non-multipart message is ``n.TEXT``."""
    attached = (
        b"MESSAGE", b"RFC822", None, None, None, b"7BIT", 900, (None,) * 10, TEXT, 30,
    )  # fmt: skip
    plan = bodyparts.plan(multipart([TEXT, attached], b"MIXED"))
    assert plan.sections[-3:] == ("2.MIME", "2.HEADER", "2.TEXT")


@pytest.mark.parametrize(
    ("structure", "reason"),
    [
        (([TEXT], b"MIXED", None), "no boundary"),
        (
            multipart(
                [
                    (
                        b"MESSAGE", b"RFC822", None, None, None, b"BASE64", 9, (None,) * 10,
                        TEXT, 1,
                    )
                ],
                b"MIXED",
            ),
            "base64-encoded",
        ),
        (None, "no BODYSTRUCTURE"),
    ],
)  # fmt: skip
def test_unusual_structures_fall_back_to_the_whole_message(structure: object, reason: str) -> None:
    """What cannot be mirrored byte for byte is fetched whole rather than guessed."""
    plan = bodyparts.plan(structure)  # type: ignore[arg-type]
    assert plan.whole
    assert any(word in " ".join(plan.reasons) for word in reason.split())


def test_small_leaf_of_an_odd_type_is_fetched_and_eml_files_too() -> None:
    """Cheap insurance: tiny non-text leaves and possible saved messages are read."""
    tiny = (b"APPLICATION", b"X-ODD", None, None, None, b"7BIT", 100, None, None, None)
    eml = (
        b"APPLICATION", b"OCTET-STREAM", None, None, None, b"BASE64", 90_000, None,
        (b"ATTACHMENT", (b"FILENAME", b"Invitation.EML")), None,
    )  # fmt: skip
    encoded = (
        b"APPLICATION", b"OCTET-STREAM", None, None, None, b"BASE64", 90_000, None,
        (b"ATTACHMENT", (b"FILENAME*", b"utf-8''x")), None,
    )  # fmt: skip
    plan = bodyparts.plan(multipart([TEXT, tiny, eml, encoded, PDF], b"MIXED"))
    assert {"2", "3", "4"} <= set(plan.sections)
    assert "5" not in plan.sections


def _sections_of(raw: bytes, plan: bodyparts.Plan) -> dict[str, bytes]:
    """The sections a server would return, cut from a message built here (test helper)."""
    header, _, body = raw.partition(b"\n\n")
    out = {"HEADER": header + b"\n\n"}
    parts = body.split(b"--BOUND")
    # parts[1..n] are "\n<mime header>\n\n<body>\n"
    for number, chunk in enumerate(parts[1:-1], 1):
        mime, _, content = chunk.lstrip(b"\n").partition(b"\n\n")
        out[f"{number}.MIME"] = mime + b"\n\n"
        # The line break before a delimiter belongs to the delimiter (RFC 2046).
        out[str(number)] = content[:-1] if content.endswith(b"\n") else content
    return {k: v for k, v in out.items() if k in plan.sections}


def test_reassembled_message_parses_like_the_original() -> None:
    """Same headers, same bodies, same part types; only the attachment body is missing."""
    msg = EmailMessage()
    msg["From"] = "admin@client.example"
    msg["Subject"] = "=?utf-8?q?Vous_avez_=C3=A9t=C3=A9_invit=C3=A9?="
    msg["Message-ID"] = "<m1@client.example>"
    msg.set_content(
        "Open https://businesscentral.dynamics.com/x.onmicrosoft.com?redirectedfromsignup=1"
    )
    msg.add_attachment(b"%PDF" + b"\0" * 5000, maintype="application", subtype="pdf",
                       filename="a.pdf")  # fmt: skip
    msg.set_boundary("BOUND")
    raw = msg.as_bytes()
    structure = multipart(
        [
            (b"TEXT", b"PLAIN", (b"CHARSET", b"utf-8"), None, None, b"7BIT", 90, 1, None, None),
            (
                b"APPLICATION", b"PDF", None, None, None, b"BASE64", 6900, None,
                (b"ATTACHMENT", (b"FILENAME", b"a.pdf")), None,
            ),
        ],
        b"MIXED",
        b"BOUND",
    )  # fmt: skip
    plan = bodyparts.plan(structure)
    assert "2" not in plan.sections
    rebuilt = bodyparts.reassemble(plan, _sections_of(raw, plan))
    original, copy = parse_message(raw), parse_message(rebuilt)
    assert copy.text == original.text
    assert copy.subject == original.subject
    assert copy.part_types == original.part_types
    assert copy.message_id == original.message_id
    assert len(rebuilt) < len(raw)


def test_reassembly_refuses_a_header_without_boundary() -> None:
    """If the fetched header disagrees with BODYSTRUCTURE, the caller fetches the whole."""
    plan = bodyparts.plan(multipart([TEXT], b"MIXED"))
    with pytest.raises(bodyparts.Unplannable):
        bodyparts.reassemble(plan, {"HEADER": b"Content-Type: text/plain\r\n\r\n", "1": b"x"})


def test_section_names_are_safe_to_put_in_a_command() -> None:
    plan = bodyparts.plan(multipart([TEXT, HTML], b"ALTERNATIVE"))
    assert all(bodyparts.valid_section(s) for s in plan.sections)
    assert not bodyparts.valid_section("1] BODY[")
