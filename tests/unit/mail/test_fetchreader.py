"""The fast FETCH reader (acchub_mailbot.mail.fetchreader) against imapclient's own parser.

Responses are generated as imaplib hands them over (a line, or a line ending in ``{n}`` paired
with the literal's bytes); whatever the fast reader accepts it must read exactly as imapclient
does, and what it cannot be sure of it must refuse (the caller then uses imapclient's parser).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from acchub_mailbot.core import bodyparts
from acchub_mailbot.mail.fetchreader import Malformed, parse_fetch

Piece = bytes | tuple[bytes, bytes]


class Literal(bytes):
    """A value to send as a literal rather than a quoted string."""


class Atom(bytes):
    """A value to send bare."""


def _quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _emit(value: Any, line: list[bytes], pieces: list[Piece]) -> None:
    """Append ``value`` to the line being built; a literal ends the line as imaplib splits it."""
    if isinstance(value, Literal):
        line.append(b"{%d}" % len(value))
        pieces.append((b"".join(line), bytes(value)))
        line.clear()
    elif isinstance(value, Atom):
        line.append(bytes(value))
    elif isinstance(value, bytes):
        line.append(_quoted(value))
    elif value is None:
        line.append(b"NIL")
    elif isinstance(value, int):
        line.append(str(value).encode())
    else:
        line.append(b"(")
        for i, child in enumerate(value):
            if i:
                line.append(b" ")
            _emit(child, line, pieces)
        line.append(b")")


def serialise(responses: list[tuple[int, list[tuple[bytes, Any]]]]) -> list[Piece]:
    """FETCH responses as imaplib's untagged data: literals split the lines."""
    pieces: list[Piece] = []
    for seq, items in responses:
        line = [f"{seq} (".encode()]
        for i, (name, value) in enumerate(items):
            if i:
                line.append(b" ")
            line.append(name + b" ")
            _emit(value, line, pieces)
        line.append(b")")
        pieces.append(b"".join(line))
    return pieces


_ATOM = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789.-_\\$", min_size=1, max_size=8).map(
    lambda s: Atom(s.encode())
)
_QUOTED = st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b and b.isascii())
_LITERAL = st.binary(max_size=40).map(Literal)
_SCALAR = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40), _ATOM, _QUOTED, _LITERAL)
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=5), max_leaves=25)
_NAME = st.sampled_from(
    [b"FLAGS", b"RFC822.SIZE", b"X-GM-MSGID", b"BODY[HEADER]", b"BODY[1.MIME]", b"BODY[2]<0>"]
)
_RESPONSE = st.tuples(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**6),
    st.lists(st.tuples(_NAME, _VALUE), max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(responses=st.lists(_RESPONSE, max_size=4))
def test_reads_exactly_what_imapclient_reads(
    responses: list[tuple[int, int, list[tuple[bytes, Any]]]],
) -> None:
    data = serialise([(seq, [(b"UID", uid), *items]) for seq, uid, items in responses])
    assert parse_fetch(data) == dict(parse_fetch_response(data, True, True))


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=60))
def test_never_reads_what_imapclient_reads_otherwise(junk: bytes) -> None:
    """Arbitrary bytes: refused, or read as imapclient reads them."""
    data: list[Piece] = [b"1 (UID 7 FLAGS " + junk.replace(b"\r", b"").replace(b"\n", b"") + b")"]
    try:
        ours = parse_fetch(data)
    except Malformed:
        return
    try:
        theirs = dict(parse_fetch_response(data, True, True))
    except Exception:  # imapclient refused what we read: that must not happen
        pytest.fail(f"read {data!r} that imapclient refuses")
    assert ours == theirs


def test_literals_quotes_and_nil() -> None:
    data: list[Piece] = [
        (b'3 (UID 41 FLAGS (\\Seen "a\\"b" "c\\\\d") BODY[HEADER] {5}', b"ab)(c"),
        b" BODY[1]<0> NIL RFC822.SIZE 0123)",
    ]
    assert parse_fetch(data) == {
        41: {
            b"SEQ": 3,
            b"FLAGS": (b"\\Seen", b'a"b', b"c\\d"),
            b"BODY[HEADER]": b"ab)(c",
            b"BODY[1]<0>": None,
            b"RFC822.SIZE": b"0123",
        }
    }


def test_responses_without_uid_are_left_out() -> None:
    """A flag change caused by another session arrives as an unsolicited FETCH without UID;
    imapclient would key it by sequence number, where it could pass for another message."""
    data: list[Piece] = [b"5 (FLAGS (\\Seen))", b"6 (UID 5 FLAGS ())"]
    assert parse_fetch(data) == {5: {b"SEQ": 6, b"FLAGS": ()}}


def test_bodystructure_plans_as_imapclient_s() -> None:
    """The plain nested form plans exactly as imapclient's regrouped BodyData."""
    line = (
        b'1 (UID 9 BODYSTRUCTURE ((("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1 NIL '
        b'NIL NIL NIL)("text" "html" ("charset" "utf-8") NIL NIL "base64" 80 2 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "b2") NIL NIL NIL)("application" "pdf" ("name" "a.pdf") NIL '
        b'NIL "base64" 2800000 NIL ("attachment" ("filename" "a.pdf")) NIL NIL) "mixed" '
        b'("boundary" "b1") NIL NIL NIL))'
    )
    ours = parse_fetch([line])[9][b"BODYSTRUCTURE"]
    theirs = parse_fetch_response([line], True, True)[9][b"BODYSTRUCTURE"]
    assert bodyparts.plan(ours) == bodyparts.plan(theirs)
    assert bodyparts.plan(ours).sections == (
        "HEADER",
        "1.MIME",
        "1.1.MIME",
        "1.1",
        "1.2.MIME",
        "1.2",
        "2.MIME",
    )


@pytest.mark.parametrize(
    "data",
    [
        [b"1 (UID 5 FLAGS (\\Seen) X[1]Y 3)"],  # text glued to a section
        [b"1 (UID 5\tFLAGS ())"],  # a tab
        [b'1 (UID 5 FLAGS ("a)'],  # an unclosed quote
        [b"1 (UID 5 FLAGS ]"],  # a stray bracket
        [b"1 (UID 5 FLAGS (a b)"],  # an unclosed list
        [b"1 (UID 5 FLAGS))"],  # an extra parenthesis
        [b"1 (UID 5 FLAGS)"],  # a name without value
        [(b"1 (UID 5 BODY[] {3}", b"abc")],  # the response ends inside the literal's list
        [(b"1 (UID 5 BODY[] NIL", b"abc")],  # a literal without its marker
        [b"1 (UID 5 BODY[] {3})"],  # a marker without its literal
        [b"(UID 5)"],  # no message number
        [b"1 UID 5"],  # no list
    ],
)
def test_anything_unsure_is_refused(data: list[Piece]) -> None:
    with pytest.raises(Malformed):
        parse_fetch(data)
