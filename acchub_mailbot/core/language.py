"""Which language a page is shown in: the browser's ``Accept-Language`` against the languages
the dashboard has catalogs for (RFC 9110 section 12.5.4, q-values and base languages)."""

from __future__ import annotations

from collections.abc import Sequence


def negotiate(header: str | None, available: Sequence[str], default: str) -> str:
    """The best of ``available`` for ``header``; ``default`` when nothing acceptable is there.

    ``fr-CA`` takes ``fr``; ``*`` takes ``default``; ``q=0`` refuses a language.
    """
    wanted: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower().replace("_", "-")
        if not tag or len(tag) > 35:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if 0 < quality <= 1:
            wanted.append((-quality, position, tag))
    known = {language.lower(): language for language in available}
    for _quality, _position, tag in sorted(wanted):
        if tag == "*":
            return default
        for candidate in (tag, tag.split("-", 1)[0]):
            if candidate in known:
                return known[candidate]
    return default
