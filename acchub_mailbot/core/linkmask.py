"""An access link grants entry to a client's books, so screens show it masked: enough to tell
which service it points at, nothing that would let a bystander or a screenshot use it."""

from __future__ import annotations

from urllib.parse import urlsplit

HIDDEN = "•••••"


def mask_link(link: str | None) -> str | None:
    """``https://host/•••••`` for a link, ``None`` for none; never any path, query or fragment."""
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        scheme, host = parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        return HIDDEN
    if scheme not in ("http", "https") or not host:
        return HIDDEN
    return f"{scheme}://{host}/{HIDDEN}"


#: The card fields that hold links granting access; masked everywhere but an audited reveal.
SECRET_FIELDS = ("access_link", "add_client_link")


def masked_card(card: dict[str, object]) -> dict[str, object]:
    """A copy of a client's JSON with its access links masked."""
    copy = dict(card)
    for name in SECRET_FIELDS:
        value = copy.get(name)
        copy[name] = mask_link(value if isinstance(value, str) else None)
    return copy
