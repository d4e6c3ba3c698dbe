"""A fast reader for IMAP ``FETCH`` responses, as :mod:`imaplib` hands them over.

imapclient's response parser reads character by character in Python; on a first scan of a large
mailbox it costs more than the server takes to answer (about 1 s of every 1.5 s for the
``BODYSTRUCTURE`` of 10,000 messages). This module reads the same responses with one regular
expression per text segment and gives back exactly what imapclient's ``parse_fetch_response``
gives for the items acchub-mailbot asks for (``UID``, ``FLAGS``, ``RFC822.SIZE``,
``BODYSTRUCTURE``, ``BODY[...]``): digits as ``int``, ``NIL`` as ``None``, quoted strings and
literals as ``bytes``, lists as tuples. ``BODYSTRUCTURE`` stays the server's plain nested tuples
(imapclient regroups multipart children into a list; :mod:`acchub_mailbot.core.bodyparts` reads
both).

Anything it does not recognise raises :class:`Malformed`, and the caller then uses imapclient's
own parser on the same data: this reader may only be faster, never different.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: One element of imaplib's untagged FETCH data: a line, or a line ending in ``{n}`` with the
#: ``n`` bytes of the literal that followed it.
Piece = bytes | tuple[bytes, bytes] | None

_TOKEN = re.compile(
    rb"""
      [()]
    | "[^"\\\r\n]*(?:\\["\\][^"\\\r\n]*)*"  # quoted string, only \" and \\ escaped
    | \{\d+\}$                           # literal marker: only at the end of a line
    | [^\x00-\x20()%"{}\[\]]+             # atom (imapclient splits at % and controls) ...
      (?:\[[^\[\]\r\n]*\](?:<\d+>)?)?    # ... with a section and partial: BODY[1.MIME]<0>
      (?=[\s()]|$)                       # ... and nothing glued to it
    """,
    re.X,
)
_UNESCAPE = re.compile(rb"\\([\"\\])")
#: Stands for the next literal in the token stream (a lone ``{`` is never a token of its own).
_LITERAL = b"{"


class Malformed(ValueError):
    """The data is not a FETCH response this reader is sure to read as imapclient would."""


def _tokens(data: Sequence[Piece]) -> tuple[list[bytes], list[bytes]]:
    """The tokens of all pieces, each literal replaced by :data:`_LITERAL`, and the literals."""
    tokens: list[bytes] = []
    literals: list[bytes] = []
    for piece in data:
        if piece is None:
            continue
        line, literal = piece if isinstance(piece, tuple) else (piece, None)
        found = _TOKEN.findall(line)
        # Tokens never overlap, so they and the spaces between them make up the whole line
        # exactly when nothing was skipped (a tab, a stray bracket, an unclosed quote).
        joined = b"".join(found)
        if len(joined) + line.count(b" ") - joined.count(b" ") != len(line):
            raise Malformed("FETCH response with text this reader does not know")
        if literal is not None:
            if not found or found[-1][:1] != b"{":
                raise Malformed("literal without its marker")
            found[-1] = _LITERAL
            literals.append(literal)
        elif found and found[-1][:1] == b"{":
            raise Malformed("literal marker without its literal")
        tokens.extend(found)
    return tokens, literals


def parse_fetch(data: Sequence[Piece]) -> dict[int, dict[bytes, Any]]:
    """``{uid: {item: value}}`` for every FETCH response in ``data`` that carries a UID.

    Responses without one (a flag change another session caused) are left out, where imapclient
    would key them by sequence number; as in imapclient, the UID is the key, not an item, and
    the sequence number is kept under ``b"SEQ"``.
    """
    top = _values(*_tokens(data))
    if len(top) % 2:
        raise Malformed("a FETCH response must be a message number and a list")
    result: dict[int, dict[bytes, Any]] = {}
    for i in range(0, len(top), 2):
        seq, items = top[i], top[i + 1]
        if type(seq) is not int or type(items) is not tuple or len(items) % 2:
            raise Malformed("a FETCH response must be a message number and a list of pairs")
        message: dict[bytes, Any] = {b"SEQ": seq}
        uid = None
        for j in range(0, len(items), 2):
            name = items[j]
            if type(name) is not bytes:
                raise Malformed("a FETCH item name must be an atom")
            name = name.upper()
            if name == b"UID":
                uid = items[j + 1]
            else:
                message[name] = items[j + 1]
        if type(uid) is int:
            result.setdefault(uid, {}).update(message)
    return result


def _values(tokens: list[bytes], literals: list[bytes]) -> list[Any]:
    """The token stream as values: lists as tuples, ``NIL`` as ``None``, numbers as ``int``."""
    pending = iter(literals)
    stack: list[list[Any]] = []
    current: list[Any] = []
    for token in tokens:
        if token == b"(":
            stack.append(current)
            current = []
        elif token == b")":
            if not stack:
                raise Malformed("unbalanced parentheses in FETCH response")
            done = tuple(current)
            current = stack.pop()
            current.append(done)
        elif token == _LITERAL:
            current.append(next(pending))
        elif token[0] == 34:  # a quoted string
            body = token[1:-1]
            current.append(_UNESCAPE.sub(rb"\1", body) if b"\\" in body else body)
        elif token.isdigit() and (token[0] != 48 or len(token) == 1):
            current.append(int(token))  # "0123" stays an atom, as imapclient keeps it
        elif token == b"NIL":
            current.append(None)
        else:
            current.append(token)
    if stack:
        raise Malformed("unbalanced parentheses in FETCH response")
    return current
