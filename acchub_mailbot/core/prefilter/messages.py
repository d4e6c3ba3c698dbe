"""The prefilter over the two ways a message arrives: a planned FETCH, or the whole message.

Both check the parser's limits first (a message that may reach one always passes, because the
limits send it to review), then look for the markers in its headers and text parts.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message as StdMessage

from acchub_mailbot.core import bodyparts
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.messages import MESSAGE_TYPES
from acchub_mailbot.core.prefilter.markers import BodyPart, could_be_invitation


def _shape(node: bodyparts.Node | None, depth: int = 0, rfc822: int = 0) -> tuple[int, int, int]:
    """``(parts, MIME depth, attached-message depth)`` of a planned tree."""
    if node is None:
        return 0, depth, rfc822
    if isinstance(node, bodyparts.Leaf):
        return 1, depth, rfc822
    if isinstance(node, bodyparts.Embedded):
        parts, deepest, nested = _shape(node.body, depth + 1, rfc822 + 1)
        return parts + 1, deepest, nested
    total, deepest, nested = 1, depth, rfc822
    for child in node.children:
        parts, child_depth, child_nested = _shape(child, depth + 1, rfc822)
        total += parts
        deepest = max(deepest, child_depth)
        nested = max(nested, child_nested)
    return total, deepest, nested


def may_hit_limits(plan: bodyparts.Plan, limits: Limits) -> bool:
    """True when parsing might stop at a parser limit, which makes the verdict
    ``needs_review`` whatever the content (:func:`acchub_mailbot.handlers.decide`).

    Sizes are the encoded sizes from BODYSTRUCTURE, never smaller than the decoded text; counts
    and depths get a margin because the server and the parser count slightly differently.
    """
    parts, depth, rfc822 = _shape(plan.root)
    if parts * 2 > limits.max_parts or depth + 2 >= limits.max_mime_depth:
        return True
    if rfc822 + 1 >= limits.max_rfc822_depth:
        return True
    text = sum(leaf.size for leaf in bodyparts.leaves(plan.root) if leaf.maintype == "text")
    return text >= min(limits.max_text_bytes, limits.max_html_bytes)


def sections_could_be_invitation(
    plan: bodyparts.Plan, sections: dict[str, bytes], limits: Limits | None = None
) -> bool:
    """:func:`could_be_invitation` for a planned fetch (see :mod:`acchub_mailbot.core.bodyparts`),
    also True when the parser's limits could decide instead of the content."""
    if plan.root is None:
        return True
    if may_hit_limits(plan, limits or Limits()):
        return True
    headers = [sections.get(h, b"") for h in bodyparts.message_headers(plan.root)]
    parts = [
        BodyPart(
            sections.get(leaf.section, b""),
            sections.get(leaf.header, b""),
            leaf.encoding,
            leaf.charset,
            f"{leaf.maintype}/{leaf.subtype}",
        )
        for leaf in bodyparts.leaves(plan.root)
        if leaf.fetch_body
    ]
    return could_be_invitation(headers, parts)


# -- whole messages (tests, and messages fetched whole) ------------------------------------------


def _header_lines(message: StdMessage) -> bytes:
    lines = [f"{k}: {v}" for k, v in message.items() if k.lower() in ("subject", "from")]
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _std_leaves(part: StdMessage, headers: list[bytes], parts: list[BodyPart], depth: int) -> None:
    """Collect the header blocks and leaves of a parsed message, into attached messages."""
    if depth > 60:
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        is_message = part.get_content_type() in MESSAGE_TYPES
        for child in payload:
            if isinstance(child, StdMessage):
                if is_message:
                    headers.append(_header_lines(child))
                _std_leaves(child, headers, parts, depth + 1)
        return
    raw = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    header = "\n".join(f"{k}: {v}" for k, v in part.items()).encode("utf-8", "surrogateescape")
    charset = part.get_param("charset")
    parts.append(
        BodyPart(
            raw,
            header,
            str(part.get("content-transfer-encoding", "")),
            charset if isinstance(charset, str) else None,
            part.get_content_type(),
        )
    )


def _std_shape(part: StdMessage, depth: int = 0, rfc822: int = 0) -> tuple[int, int, int]:
    """``(parts, MIME depth, attached-message depth)`` of a parsed message."""
    payload = part.get_payload()
    if not isinstance(payload, list) or depth > 200:
        return 1, depth, rfc822
    nested = rfc822 + (1 if part.get_content_type() in MESSAGE_TYPES else 0)
    total, deepest, inner = 1, depth, nested
    for child in payload:
        if isinstance(child, StdMessage):
            parts, child_depth, child_nested = _std_shape(child, depth + 1, nested)
            total += parts
            deepest = max(deepest, child_depth)
            inner = max(inner, child_nested)
    return total, deepest, inner


def message_could_be_invitation(raw: bytes, limits: Limits | None = None) -> bool:
    """:func:`could_be_invitation` for a whole message, parsed with the standard library;
    also True when the parser's limits could decide instead of the content."""
    limits = limits or Limits()
    try:
        parsed = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # anything unreadable is left to the full parser
        return True
    headers: list[bytes] = [_header_lines(parsed)]
    parts: list[BodyPart] = []
    try:
        count, depth, rfc822 = _std_shape(parsed)
        _std_leaves(parsed, headers, parts, 0)
    except Exception:  # a broken structure is left to the full parser
        return True
    if count * 2 > limits.max_parts or depth + 2 >= limits.max_mime_depth:
        return True
    if rfc822 + 1 >= limits.max_rfc822_depth:
        return True
    text = sum(len(p.payload) for p in parts if p.content_type.startswith("text/"))
    if text >= min(limits.max_text_bytes, limits.max_html_bytes):
        return True
    return could_be_invitation(headers, parts)
