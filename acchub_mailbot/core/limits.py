"""How much work one email may cost: the bounds that keep hostile or broken mail harmless.

Anyone on the internet can send mail to the accountant, so every size, depth and count that a
message controls is capped here. Hitting a cap is a normal outcome, not a fault: the parser stops
or truncates, names the limit in ``Message.limit_hit``, and the pipeline records that reason
(``needs_review``) instead of retrying a message that will never get smaller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps applied while fetching and parsing one message; the defaults are safe for a service
    that handles a few hundred invitations, far above any genuine Business Central email."""

    #: Larger messages are never parsed whole: attachment bodies are skipped (and, once the
    #: IMAP side uses BODYSTRUCTURE, never downloaded).
    max_message_bytes: int = 10 * MB
    #: Multipart nesting inside one message.
    max_mime_depth: int = 20
    #: MIME parts walked per message (attached messages included).
    max_parts: int = 500
    #: Forwards-as-attachment inside forwards-as-attachment.
    max_rfc822_depth: int = 5
    #: Decoded HTML kept per message; the rest is cut off before any HTML parser sees it.
    max_html_bytes: int = 1 * MB
    #: Decoded plain text kept per message.
    max_text_bytes: int = 2 * MB
    #: Links considered per message.
    max_links: int = 500
    #: Gateway wrappers undone per link (Safe Links inside Proofpoint inside ...).
    max_unwrap_depth: int = 8
    #: Wall-clock seconds of parsing and deciding per message.
    time_budget_seconds: float = 5.0

    def deadline(self, now: float | None = None) -> Deadline:
        """A deadline for one message, starting now."""
        start = time.monotonic() if now is None else now
        return Deadline(start + self.time_budget_seconds)


@dataclass(frozen=True)
class Deadline:
    """A point in ``time.monotonic()`` time. Loops check it cooperatively: the pipeline runs in
    worker threads, where signals (``SIGALRM``) cannot interrupt work."""

    at: float

    def expired(self) -> bool:
        return time.monotonic() >= self.at


#: The names used in ``Message.limit_hit`` and in the reasons shown to people.
LIMIT_NAMES = (
    "max_message_bytes",
    "max_mime_depth",
    "max_parts",
    "max_rfc822_depth",
    "max_html_bytes",
    "max_text_bytes",
    "max_links",
    "max_unwrap_depth",
    "time_budget_seconds",
)


@dataclass(frozen=True)
class LimitExceeded:
    """The outcome "this message is over a limit": which limit, and what was seen.

    A value, not an exception: the pipeline turns it into a ``needs_review`` record whose reason
    a person can read, and the message is never retried (it would exceed the limit again).
    """

    limit: str
    detail: str = ""

    @property
    def reason(self) -> str:
        """One line for the digest and the processed-message record."""
        text = f"message exceeds the {self.limit} limit"
        return f"{text} ({self.detail})" if self.detail else text


__all__ = ["LIMIT_NAMES", "MB", "Deadline", "LimitExceeded", "Limits"]
