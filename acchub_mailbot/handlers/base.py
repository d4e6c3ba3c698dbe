"""The handler contract: what a handler receives and the decision it returns.

A handler looks at one parsed message and either declines it (returns ``None``: "not my kind of
email") or returns a :class:`Decision`. Handlers are pure: they never touch IMAP, SMTP, HTTP or
the database. The pipeline turns decisions into registrations, digest events and server actions.
"""

from __future__ import annotations

from typing import Protocol

from acchub_mailbot.core.decision import Decision, Verdict
from acchub_mailbot.core.messages import Message

__all__ = ["Decision", "Handler", "Verdict"]


class Handler(Protocol):
    """One kind of email. ``name`` appears in logs and in ``Decision.handler``."""

    name: str

    def decide(self, message: Message) -> Decision | None:
        """Return a decision, or ``None`` when the message is not this handler's kind."""
        ...
