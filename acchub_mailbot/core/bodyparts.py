"""Fetch only what decides: which body sections of a message to ask IMAP for, and how to put them
back together into bytes that :func:`acchub_mailbot.core.messages.parse_message` reads as it
reads the whole message.

A mailbox's bytes are mostly attachments (a 2 MB PDF outweighs a thousand text emails), and no
attachment can make a message an invitation. So the fetch is planned from the server's
``BODYSTRUCTURE``: the message header, every part's own MIME header (small, and exactly what the
standard library reads to decide charsets, dispositions and file names), the bodies of text parts,
and recursively the same for attached messages (``message/rfc822``, forwards as attachment).
Attachments keep their MIME header but get an empty body.

The reassembled message keeps the original header blocks and boundaries byte for byte, so the
parser sees the same tree of parts, the same content types (``part_types``, which the bounce
checks use) and the same text and HTML bodies. Messages whose structure cannot be mirrored that
way (a multipart without a boundary parameter, an attached message in base64, nesting deeper than
the parser walks) are planned as a whole-message fetch instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser

#: Parts of these types are fetched whatever their disposition: they may be bodies or messages.
TEXT_TYPES = ("text",)
#: Content types whose part is an attached message with its own structure.
MESSAGE_SUBTYPES = ("rfc822", "global")
#: Non-text leaves up to this size are fetched anyway: cheap insurance for odd content types the
#: server and the standard library may classify differently (a malformed ``Content-Type`` is
#: ``text/plain`` to Python).
SMALL_LEAF_BYTES = 4096
#: Beyond this depth the parser stops walking, so there is nothing to plan either.
MAX_DEPTH = 40
#: Encodings in which an attached message can be parsed in place (RFC 2046, section 5.2.1).
_IDENTITY_ENCODINGS = ("", "7bit", "8bit", "binary")
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Leaf:
    """A non-multipart part. ``section`` is its IMAP part number (``"TEXT"`` for the body of a
    non-multipart message); ``header`` the section holding its MIME header."""

    section: str
    header: str
    maintype: str
    subtype: str
    encoding: str
    charset: str | None
    size: int
    fetch_body: bool


@dataclass(frozen=True)
class Multipart:
    """A multipart node; ``header`` is the section holding its Content-Type (and boundary)."""

    header: str
    subtype: str
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Embedded:
    """An attached message (``message/rfc822``): its part header, its own header, its body."""

    header: str
    inner_header: str
    body: Node


Node = Leaf | Multipart | Embedded


@dataclass(frozen=True)
class Plan:
    """What to fetch for one message. ``whole`` means fetch ``BODY.PEEK[]`` instead."""

    root: Node | None
    sections: tuple[str, ...] = ()
    whole: bool = False
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def body_sections(self) -> tuple[str, ...]:
        return tuple(s for s in self.sections if not s.endswith(("HEADER", "MIME")))


class Unplannable(ValueError):
    """The structure cannot be mirrored from sections; fetch the whole message instead."""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if value is None:
        return ""
    return str(value)


def _params(value: object) -> dict[str, str]:
    """A BODYSTRUCTURE parameter list ``(k1, v1, k2, v2...)`` as a lower-cased-key dict."""
    if not isinstance(value, (tuple, list)):
        return {}
    items = list(value)
    out: dict[str, str] = {}
    for i in range(0, len(items) - 1, 2):
        out.setdefault(_text(items[i]).lower(), _text(items[i + 1]))
    return out


def _disposition(value: object) -> tuple[str, dict[str, str]]:
    if isinstance(value, (tuple, list)) and value:
        return _text(value[0]).lower(), _params(value[1] if len(value) > 1 else None)
    return "", {}


def _may_be_eml(
    maintype: str, subtype: str, disposition: tuple[str, dict[str, str]], params: Mapping[str, str]
) -> bool:
    """Could the parser treat this leaf as a saved message (``*.eml`` attached as a file)?

    The parser looks at ``get_filename()``, which decodes RFC 2231 forms; the server's
    parameters may not be decoded, so anything unusual counts as "maybe".
    """
    if (maintype, subtype) not in (("application", "octet-stream"), ("text", "plain")):
        return False
    names = [
        v
        for k, v in (*disposition[1].items(), *params.items())
        if k.split("*")[0] in ("filename", "name")
    ]
    if any("*" in k for k in (*disposition[1], *params)):
        return True
    return any("=?" in n or n.strip().strip('"').lower().endswith(".eml") for n in names)


def _multipart(body: Sequence[object]) -> tuple[list[Sequence[object]], list[object]] | None:
    """``(children, rest)`` when ``body`` is a multipart, else ``None``.

    imapclient nests the top level's parts in a list, but leaves the body of an attached
    message as the raw tuple, where the parts are simply the leading tuples.
    """
    if not body:
        return None
    if isinstance(body[0], list):
        return list(body[0]), list(body[1:])
    if isinstance(body[0], tuple):
        children: list[Sequence[object]] = []
        for item in body:
            if not isinstance(item, (tuple, list)):
                break
            children.append(item)
        return children, list(body[len(children) :])
    return None


def _leaf(body: Sequence[object], section: str, header: str) -> Leaf:
    maintype = _text(body[0]).lower()
    subtype = _text(body[1]).lower()
    params = _params(body[2] if len(body) > 2 else None)
    encoding = _text(body[5] if len(body) > 5 else "").strip().lower()
    size = int(body[6]) if len(body) > 6 and isinstance(body[6], int) else 0
    # Extension data follows the basic fields; text parts carry a line count first, so the
    # disposition sits one place later (RFC 3501, body-type-1part and body-ext-1part).
    disposition_at = 9 if maintype == "text" else 8
    disposition = _disposition(body[disposition_at] if len(body) > disposition_at else None)
    fetch = (
        maintype in TEXT_TYPES
        or maintype == "message"
        or size <= SMALL_LEAF_BYTES
        or _may_be_eml(maintype, subtype, disposition, params)
    )
    return Leaf(
        section, header, maintype, subtype, encoding, params.get("charset") or None, size, fetch
    )


def _tree(body: Sequence[object], number: str, header: str, depth: int) -> Node:
    """The node for ``body``, the part numbered ``number`` (``""`` for the top-level body)."""
    if depth > MAX_DEPTH:
        raise Unplannable("structure nested too deeply")
    prefix = f"{number}." if number else ""
    split = _multipart(body)
    if split is not None:
        children, rest = split
        subtype = _text(rest[0]).lower() if rest else "mixed"
        params = _params(rest[1] if len(rest) > 1 else None)
        if not params.get("boundary"):
            raise Unplannable(f"multipart {number or 'message'} has no boundary parameter")
        kids = tuple(
            _tree(child, f"{prefix}{i}", f"{prefix}{i}.MIME", depth + 1)
            for i, child in enumerate(children, 1)
        )
        return Multipart(header, subtype, kids)
    maintype = _text(body[0]).lower()
    subtype = _text(body[1]).lower()
    if maintype == "message" and subtype in MESSAGE_SUBTYPES and len(body) > 8:
        inner = body[8]
        if isinstance(inner, (tuple, list)) and inner:
            if not number:
                raise Unplannable("the whole message body is another message")
            encoding = _text(body[5] if len(body) > 5 else "").strip().lower()
            if encoding not in _IDENTITY_ENCODINGS:
                raise Unplannable(f"attached message at {number} is {encoding}-encoded")
            inner_header = f"{number}.HEADER"
            inner_body = _tree_of_message(inner, number, inner_header, depth + 1)
            return Embedded(header, inner_header, inner_body)
    section = number if number and not header.endswith("HEADER") else f"{prefix}TEXT"
    return _leaf(body, section, header)


def _tree_of_message(body: Sequence[object], number: str, header: str, depth: int) -> Node:
    """The body of the message attached at ``number``: parts ``number.1...``, or the single
    body ``number.TEXT``."""
    split = _multipart(body)
    if split is not None:
        return _tree(body, number, header, depth)
    return _leaf(body, f"{number}.TEXT", header)


def _sections(node: Node, out: list[str]) -> None:
    if isinstance(node, Leaf):
        if node.header not in out:
            out.append(node.header)
        if node.fetch_body:
            out.append(node.section)
    elif isinstance(node, Multipart):
        if node.header not in out:
            out.append(node.header)
        for child in node.children:
            _sections(child, out)
    else:
        out.append(node.header)
        out.append(node.inner_header)
        _sections(node.body, out)


def plan(bodystructure: Sequence[object] | None) -> Plan:
    """Decide which ``BODY.PEEK[<section>]`` items to fetch for one message.

    ``bodystructure`` is imapclient's ``BodyData`` (multipart: ``([parts], subtype, params,
    ...)``; leaf: ``(type, subtype, params, id, description, encoding, size, ...)``).
    """
    if not bodystructure:
        return Plan(None, whole=True, reasons=("no BODYSTRUCTURE",))
    try:
        root = _tree(bodystructure, "", "HEADER", 0)
    except Unplannable as exc:
        return Plan(None, whole=True, reasons=(str(exc),))
    except (IndexError, TypeError, ValueError) as exc:
        return Plan(None, whole=True, reasons=(f"unexpected BODYSTRUCTURE: {exc}",))
    out: list[str] = ["HEADER"]
    _sections(root, out)
    return Plan(root, tuple(dict.fromkeys(out)))


def fetch_items(sections: Sequence[str]) -> list[str]:
    """The FETCH data items for ``sections`` (``BODY.PEEK`` never sets ``\\Seen``)."""
    return [f"BODY.PEEK[{s}]" for s in sections]


def response_key(section: str) -> bytes:
    """The key imapclient uses for a fetched ``BODY.PEEK[section]`` item."""
    return f"BODY[{section}]".encode("ascii")


# -- reassembly ----------------------------------------------------------------------------------


def _header_block(raw: bytes) -> bytes:
    """A header block ending in exactly one empty line, as the parser expects."""
    if not raw.strip(b"\r\n"):
        return _CRLF
    body = raw.rstrip(b"\r\n")
    return body + _CRLF + _CRLF


def _boundary(header: bytes) -> str:
    """The boundary as the standard library reads it from this header block."""
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(header)
    boundary = parsed.get_boundary()
    if not boundary:
        raise Unplannable("the header names no boundary")
    return boundary


def _emit(node: Node, sections: Mapping[str, bytes], out: list[bytes], *, header: bool) -> None:
    if isinstance(node, Leaf):
        if header:
            out.append(_header_block(sections.get(node.header, b"")))
        if node.fetch_body:
            out.append(sections.get(node.section, b""))
        return
    if isinstance(node, Embedded):
        out.append(_header_block(sections.get(node.header, b"")))
        out.append(_header_block(sections.get(node.inner_header, b"")))
        _emit(node.body, sections, out, header=False)
        return
    head = _header_block(sections.get(node.header, b""))
    if header:
        out.append(head)
    delimiter = b"--" + _boundary(head).encode("latin-1")
    for child in node.children:
        out.append(delimiter + _CRLF)
        _emit(child, sections, out, header=True)
        out.append(_CRLF)
    out.append(delimiter + b"--" + _CRLF)


def reassemble(planned: Plan, sections: Mapping[str, bytes]) -> bytes:
    """Bytes that parse like the original message, minus attachment bodies.

    ``sections`` maps each section of ``planned.sections`` to the bytes the server returned.
    Raises :class:`Unplannable` when a header no longer agrees with the planned structure.
    """
    if planned.root is None:
        raise Unplannable("the plan fetches the whole message")
    out: list[bytes] = [_header_block(sections.get("HEADER", b""))]
    root = planned.root
    if isinstance(root, Multipart):
        # The top header block is already written; a top-level multipart's header is HEADER.
        head = out[0]
        delimiter = b"--" + _boundary(head).encode("latin-1")
        for child in root.children:
            out.append(delimiter + _CRLF)
            _emit(child, sections, out, header=True)
            out.append(_CRLF)
        out.append(delimiter + b"--" + _CRLF)
    else:
        _emit(root, sections, out, header=False)
    return b"".join(out)


def leaves(node: Node | None) -> list[Leaf]:
    """Every leaf of the tree, attached messages included, in part order."""
    found: list[Leaf] = []
    if node is None:
        return found
    if isinstance(node, Leaf):
        found.append(node)
    elif isinstance(node, Multipart):
        for child in node.children:
            found.extend(leaves(child))
    else:
        found.extend(leaves(node.body))
    return found


def message_headers(node: Node | None) -> list[str]:
    """The sections holding a message header: the top one and those of attached messages."""
    found = ["HEADER"]
    stack: list[Node] = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, Embedded):
            found.append(current.inner_header)
            stack.append(current.body)
        elif isinstance(current, Multipart):
            stack.extend(current.children)
    return found


_SECTION = re.compile(r"^(?:\d+(?:\.\d+)*\.)?(?:HEADER|TEXT|MIME)$|^\d+(?:\.\d+)*$")


def valid_section(section: str) -> bool:
    """True for the section specifiers :func:`plan` produces (a guard before building FETCH)."""
    return bool(_SECTION.match(section))


__all__ = [
    "Embedded",
    "Leaf",
    "Multipart",
    "Plan",
    "Unplannable",
    "fetch_items",
    "leaves",
    "message_headers",
    "plan",
    "reassemble",
    "response_key",
    "valid_section",
]
