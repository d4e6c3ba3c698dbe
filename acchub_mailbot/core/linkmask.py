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


def _masked_value(value: object) -> object:
    if isinstance(value, str):
        return mask_link(value)
    if isinstance(value, dict):  # a history change: {"from": old, "to": new}
        return {k: _masked_value(v) for k, v in value.items()}
    return None if value is None else HIDDEN


def _masked_changes(entry: object) -> object:
    if not isinstance(entry, dict) or not isinstance(entry.get("changes"), dict):
        return entry
    changes = {
        k: _masked_value(v) if k in SECRET_FIELDS else v for k, v in entry["changes"].items()
    }
    return {**entry, "changes": changes}


def masked_card(card: dict[str, object]) -> dict[str, object]:
    """A copy of a client's JSON with its access links masked, in its history too (a link
    added or replaced is recorded there)."""
    copy = dict(card)
    for name in SECRET_FIELDS:
        value = copy.get(name)
        copy[name] = mask_link(value if isinstance(value, str) else None)
    history = copy.get("history")
    if isinstance(history, list):
        copy["history"] = [_masked_changes(entry) for entry in history]
    return copy
