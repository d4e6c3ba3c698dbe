"""What the detector concludes about one message: a verdict and the facts behind it.

Plain data shared by the handlers that produce decisions, the forwarding policy that adjusts
them, and the application that acts on them; it lives in the core so none of those has to
import another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    """The four answers a handler can give; the strings are part of ``inspect --json``."""

    INVITATION = "invitation"
    NOT_INVITATION = "not_invitation"
    REJECTED = "rejected"
    NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class Decision:
    """What a handler concluded about one message.

    ``client_url`` is normalized (``scheme://host/path``, no query, no trailing slash).
    ``access_link`` and ``add_client_link`` are exactly as Business Central wrote them, after
    undoing any rewriting by a mail gateway. ``reasons`` are short human-readable signals
    ("link shape: businesscentral.dynamics.com tenant link", "unwrapped: safe links", ...), used
    by ``inspect`` and the digest. ``original_message_id`` is the Message-ID of the invitation
    itself (the inner message of a forward-as-attachment), used for de-duplication.
    ``rejected_url`` is the offending URL when the verdict is ``rejected``.
    """

    verdict: Verdict
    handler: str
    company_name: str | None = None
    client_url: str | None = None
    access_link: str | None = None
    add_client_link: str | None = None
    reasons: tuple[str, ...] = ()
    original_message_id: str | None = None
    forwarded_by: str | None = None
    forward_style: str | None = None
    rejected_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
