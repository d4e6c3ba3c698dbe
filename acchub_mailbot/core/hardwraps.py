"""Links that a mail client's hard wrap broke across lines, put back together or set aside.

A URL in angle brackets is joined where it is found (:mod:`acchub_mailbot.core.links`, RFC 3986
appendix C). A bare one has nothing to join it by: when an HTML part shows the link whole, the
HTML wins and the text part's piece is dropped; in a text-only message the piece is joined with
the next line only when that makes a Business Central link of it. Every such repair is said in
the reasons.
"""

from __future__ import annotations

import re
from dataclasses import replace

from acchub_mailbot.core.links import PLAIN_PART, Link, link_for
from acchub_mailbot.core.linkshape import Kind, classify

#: A query cut right after ``=``, ``&``, ``?``, inside a ``%xx`` escape, or in a parameter that
#: has not reached its ``=`` yet, is not a whole link.
_CUT_QUERY = re.compile(r"[=&?%]$|%[0-9A-Fa-f]$|[?&][^=&#]*$")


def joined(link: Link) -> Link:
    """A ``cut`` link with the next line's URL characters put back: what it was before a hard
    wrap, if it was cut. The caller decides whether the joined form is the one to believe."""
    whole = link_for(link.href + link.continued, link.text, link.source)
    return replace(whole, continued=link.continued)


def drop_truncated(links: tuple[Link, ...]) -> tuple[tuple[Link, ...], tuple[str, ...]]:
    """Plain-text-part links that a hard wrap cut short: one that is a strict prefix of an HTML
    link (an ``href``, or a URL the HTML's text shows), one that a cut inside a gateway's encoded
    value turned into a longer variant of one, or one that runs to a line's end with more URL
    text below while an HTML part shows links. With no brackets to join the lines by, the HTML
    part holds the whole link. Returns the links kept and the cut-off Business Central ones
    (for the reasons)."""
    shown = [link.unwrapped for link in links if link.source != PLAIN_PART]
    kept: list[Link] = []
    cut: list[str] = []
    for link in links:
        if link.source == PLAIN_PART and any(
            h != link.unwrapped
            and (link.cut or h.startswith(link.unwrapped) or link.unwrapped.startswith(h))
            for h in shown
        ):
            if "dynamics" in link.unwrapped.lower():
                cut.append(link.unwrapped)
            continue
        kept.append(link)
    return tuple(kept), tuple(dict.fromkeys(cut))


def rejoin(link: Link) -> tuple[Link, str | None]:
    """A bare text URL cut by a hard wrap (no brackets, no HTML part to win) is joined with the
    next line only when that turns it into a Business Central link and the cut one was not a
    whole one already (a query cut after ``=``, say): the joined text can only be a genuine
    link, and a cut-off one would otherwise read as a look-alike or lose its last characters.
    Returns the link to believe and, when it was joined, the note for the reasons."""
    if not link.cut:
        return link, None
    complete = not _CUT_QUERY.search(link.unwrapped)
    if complete and classify(link.unwrapped).kind in (Kind.ACCESS, Kind.HUB):
        return link, None
    whole = joined(link)
    if classify(whole.unwrapped).kind not in (Kind.ACCESS, Kind.HUB):
        return link, None
    return whole, f"text link {whole.unwrapped} was wrapped across lines; joined"


__all__ = ["drop_truncated", "joined", "rejoin"]
