"""A byte-level skeleton of a message too big or too intricate to parse whole.

Before the standard library parser sees a message over ``max_message_bytes``, or one with more
MIME structure than the limits allow, it is cut down here by byte offsets: attachment bodies
dropped, parts beyond ``max_parts`` and nesting beyond the depth limits left out, text bodies
cut to a multiple of their limit. The parser then never holds a huge or pathological tree.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import Message as StdMessage
from email.parser import BytesHeaderParser

from acchub_mailbot.core.budget import ParseBudget
from acchub_mailbot.core.limits import Limits

#: Content types whose subtree is a message of its own (never mixed into the outer bodies).
MESSAGE_TYPES = ("message/rfc822", "message/global")


def attachment_name(part: StdMessage) -> str:
    try:
        return (part.get_filename() or "").lower()
    except Exception:  # malformed parameters
        return ""


#: What counts as MIME structure when deciding whether a message needs the byte-level pass.
_STRUCTURE = re.compile(rb"(?i)boundary[ \t]*=|message/(?:rfc822|global)")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
#: Encoded text kept per part, as a multiple of the decoded limit (quoted-printable can triple).
_ENCODED_FACTOR = 3


def needs_skeleton(raw: bytes, limits: Limits) -> bool:
    """True when parsing ``raw`` whole could cost more than the limits allow."""
    if len(raw) > limits.max_message_bytes:
        return True
    if raw.count(b"\n--") > 2 * limits.max_parts:
        return True
    threshold = min(limits.max_mime_depth, 4 * limits.max_rfc822_depth)
    return any(found >= threshold for found, _match in enumerate(_STRUCTURE.finditer(raw)))


def skeleton(raw: bytes, limits: Limits, budget: ParseBudget | None = None) -> bytes:
    """A bounded copy of ``raw`` with the same MIME structure and text parts.

    Bodies of non-text leaf parts are left out when ``raw`` is over ``max_message_bytes``; parts
    beyond ``max_parts`` and nesting beyond ``max_mime_depth``/``max_rfc822_depth`` are left out;
    text bodies are cut to a multiple of their limit. Preambles and epilogues are dropped. Works
    on byte offsets with ``find``, so it never copies more than it keeps.
    """
    budget = budget or ParseBudget(limits, limits.deadline())
    drop = len(raw) > limits.max_message_bytes
    out: list[bytes] = []
    skipped = _Skipped()
    _reduce(raw, 0, len(raw), 0, 0, budget, drop, out, skipped)
    if drop:
        budget.note(
            f"max_message_bytes: {len(raw)} bytes is over {limits.max_message_bytes}; "
            f"{skipped.parts} attachment bodies ({skipped.bytes} bytes) were not read"
        )
    return b"".join(out)


@dataclass
class _Skipped:
    parts: int = 0
    bytes: int = 0


def _head_end(data: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header block, start of the body) of the part ``data[start:end]``."""
    if data.startswith(b"\r\n", start, end):
        return start, start + 2
    if data.startswith(b"\n", start, end):
        return start, start + 1
    match = _BLANK_LINE.search(data, start, end)
    return (match.start(), match.end()) if match else (end, end)


def _find_delimiter(data: bytes, delimiter: bytes, start: int, end: int) -> int:
    """The offset of the next ``--boundary`` at the start of a line, or -1."""
    position = start
    while True:
        found = data.find(delimiter, position, end)
        if found < 0 or found == start or data[found - 1] == 0x0A:
            return found
        position = found + 1


def _reduce(
    data: bytes,
    start: int,
    end: int,
    depth: int,
    rfc822: int,
    budget: ParseBudget,
    drop: bool,
    out: list[bytes],
    skipped: _Skipped,
) -> None:
    """Append a bounded copy of the part ``data[start:end]`` to ``out``."""
    limits = budget.limits
    if not budget.take_part():
        return
    head_end, body_start = _head_end(data, start, end)
    head = data[start : min(head_end, start + limits.max_text_bytes)]
    out.append(head + b"\r\n\r\n" if head else b"\r\n")
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    ctype = headers.get_content_type()
    try:
        boundary = headers.get_boundary()
    except Exception:  # malformed parameters: treat the part as a leaf
        boundary = None
    if ctype.startswith("multipart/") and boundary:
        if depth >= limits.max_mime_depth:
            budget.exceed(
                "max_mime_depth", f"MIME parts nested deeper than {limits.max_mime_depth}"
            )
            return
        delimiter = b"--" + boundary.encode("ascii", "surrogateescape")
        at = _find_delimiter(data, delimiter, body_start, end)
        while at >= 0 and not budget.stopped:
            if data.startswith(b"--", at + len(delimiter), end):
                break  # the closing delimiter
            line_end = data.find(b"\n", at, end)
            if line_end < 0:
                break
            child_start = line_end + 1
            following = _find_delimiter(data, delimiter, child_start, end)
            child_end = following if following >= 0 else end
            if child_end > child_start and data[child_end - 1] == 0x0A:
                child_end -= 1
                if child_end > child_start and data[child_end - 1] == 0x0D:
                    child_end -= 1
            out.append(delimiter + b"\r\n")
            _reduce(data, child_start, child_end, depth + 1, rfc822, budget, drop, out, skipped)
            out.append(b"\r\n")
            at = following
        out.append(delimiter + b"--\r\n")
        return
    if ctype in MESSAGE_TYPES:
        if rfc822 >= limits.max_rfc822_depth:
            budget.exceed(
                "max_rfc822_depth",
                f"attached messages nested deeper than {limits.max_rfc822_depth}",
            )
            return
        _reduce(data, body_start, end, depth + 1, rfc822 + 1, budget, drop, out, skipped)
        return
    size = end - body_start
    if ctype.startswith("text/") or attachment_name(headers).endswith(".eml"):
        limit = limits.max_html_bytes if ctype == "text/html" else limits.max_text_bytes
        keep = _ENCODED_FACTOR * limit
        if size > keep:
            name = "max_html_bytes" if ctype == "text/html" else "max_text_bytes"
            budget.exceed(name, f"a {ctype} part of {size} bytes was cut")
            cut = data.rfind(b"\n", body_start, body_start + keep)
            out.append(data[body_start : cut if cut > body_start else body_start + keep])
            return
        out.append(data[body_start:end])
    elif drop:
        skipped.parts += 1
        skipped.bytes += size
    else:
        out.append(data[body_start:end])
