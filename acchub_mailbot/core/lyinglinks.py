"""Links whose visible text and target disagree: the oldest phishing trick, and always a reject.

An anchor that *shows* a URL promises where it leads. When its ``href``, after gateway wrappers
are undone, leads somewhere else (another host, another tenant, a ``javascript:`` or ``data:``
URL, a redirector we cannot see through), the message is lying, whichever side looks genuine.
Only anchors where one side concerns Business Central (an access, hub or suspect link) are
judged; a newsletter's tracking links are not this detector's business.

The one exception is a wrapper known to be irreversible offline (Mimecast): there the visible
text is the only reading there is, and it is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from acchub_mailbot.core.links import Link, links_from_text, unwrap
from acchub_mailbot.core.linkshape import Kind, classify, parse_hub_link
from acchub_mailbot.core.urlrules import (
    ACCOUNTANT_HUB_HOST,
    BUSINESS_CENTRAL_HOST,
    FINANCIALS_SUFFIX,
    normalize_host,
)

#: Text that names a host without a scheme (``businesscentral.dynamics.com/contoso.com``).
_SCHEMELESS = re.compile(r"(?i)(?<![\w./@-])((?:[a-z0-9-]+\.)+[a-z]{2,63}(?:[/?][^\s<>\"]*)?)")
_ELLIPSIS = ("...", "\u2026")


@dataclass(frozen=True)
class Lie:
    """What the anchor shows and where it really leads."""

    shown: str
    target: str

    @property
    def reason(self) -> str:
        return (
            f"phishing: the link text shows {self.shown} but the link leads to {self.target}; "
            "a link whose text and target disagree is never registered"
        )


def _shown(text: str) -> str | None:
    """The URL an anchor's visible text shows, gateway wrappers undone, or ``None``."""
    if "://" in text:
        found = links_from_text(text)
        if found:
            return found[0].unwrapped
    match = _SCHEMELESS.search(text)
    if match and ("/" in match.group(1) or "dynamics" in match.group(1).lower()):
        return unwrap("https://" + match.group(1).rstrip(".,;:!?)")).url
    return None


def _key(url: str) -> tuple[str, ...] | None:
    """What two URLs must share to be the same destination for this detector."""
    try:
        parts = urlsplit(url.strip())
        host = normalize_host(parts.hostname or "")
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    if host == ACCOUNTANT_HUB_HOST:
        hub = parse_hub_link(url)
        inner = _key(hub.client_link) if hub else None
        return (host, *(inner or ()))
    segments = [s for s in parts.path.split("/") if s]
    if host == BUSINESS_CENTRAL_HOST:
        return (host, segments[0].lower() if segments else "")
    return (host, parts.path.rstrip("/"))


def _truncated_match(shown: str, target: str) -> bool:
    """Mail clients shorten long link texts with an ellipsis (which the URL extractor has
    already trimmed from ``shown``): what is left must match as a prefix."""
    return target.lower().startswith(shown.rstrip(".\u2026").lower())


def _relevant(url: str) -> bool:
    """A link this detector acts on, or one that names a Business Central or hub host."""
    if classify(url).kind is not Kind.UNRELATED:
        return True
    try:
        host = normalize_host(urlsplit(url.strip()).hostname or "")
    except ValueError:
        return False
    return host in (BUSINESS_CENTRAL_HOST, ACCOUNTANT_HUB_HOST) or host.endswith(FINANCIALS_SUFFIX)


def find_lie(link: Link) -> Lie | None:
    """The lie an anchor tells, or ``None`` (text shows no URL, or it agrees with the target)."""
    if link.source != "href" or not link.text or link.opaque:
        return None
    shown = _shown(link.text)
    if shown is None:
        return None
    target = link.unwrapped.strip()
    if not (_relevant(shown) or _relevant(target)):
        return None
    if link.text.rstrip().endswith(_ELLIPSIS) and _truncated_match(shown, target):
        return None
    shown_key, target_key = _key(shown), _key(target)
    if shown_key is not None and shown_key == target_key:
        return None
    return Lie(shown, target)


def find_lies(links: tuple[Link, ...]) -> tuple[Lie, ...]:
    """Every lying anchor among ``links``, in order."""
    return tuple(lie for link in links if (lie := find_lie(link)) is not None)


__all__ = ["Lie", "find_lie", "find_lies"]
