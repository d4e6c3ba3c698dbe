"""The handlers, in the order they are asked, and :func:`decide`, which asks them.

Adding a kind of email is one module in this package and one entry in :data:`DEFAULT_HANDLERS`.
"""

from __future__ import annotations

from dataclasses import replace

from acchub_mailbot.core.messages import Message
from acchub_mailbot.handlers.base import Decision, Handler, Verdict
from acchub_mailbot.handlers.guest_invite import GuestInviteHandler
from acchub_mailbot.handlers.invitation import InvitationHandler

#: Asked in order; the first that does not decline decides.
DEFAULT_HANDLERS: tuple[Handler, ...] = (InvitationHandler(), GuestInviteHandler())


def decide(message: Message, handlers: tuple[Handler, ...] = DEFAULT_HANDLERS) -> Decision:
    """The first handler's decision, or ``not_invitation`` from ``"none"`` when all decline."""
    for handler in handlers:
        decision = handler.decide(message)
        if decision is not None:
            return _with_limit_outcome(message, decision)
    return _with_limit_outcome(
        message,
        Decision(
            Verdict.NOT_INVITATION,
            handler="none",
            reasons=("no handler recognised the message",),
        ),
    )


def _with_limit_outcome(message: Message, decision: Decision) -> Decision:
    """A message cut short by a limit is never silently "not an invitation": the part that
    could not be read might have held one, so it goes to a person (a decision, not retried)."""
    exceeded = message.limit_exceeded
    if exceeded is None:
        return decision
    verdict = (
        Verdict.NEEDS_REVIEW if decision.verdict is Verdict.NOT_INVITATION else decision.verdict
    )
    return replace(decision, verdict=verdict, reasons=(*decision.reasons, exceeded.reason))


__all__ = ["DEFAULT_HANDLERS", "Decision", "Handler", "Verdict", "decide"]
