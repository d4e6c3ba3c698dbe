"""Microsoft's own Entra B2B guest invitation (from ``invites@microsoft.com``).

When a client does not use the Invite External Accountant wizard, the admin may invite the
accountant as a guest by hand; Microsoft then sends its standard invitation, which names no
Business Central client (research notes, section 4.3). It must never register a client, but a
person should look at it: the client probably meant to give access.
"""

from __future__ import annotations

from acchub_mailbot.core.forwards import detect_forward, split_subject
from acchub_mailbot.core.htmltext import html_to_text
from acchub_mailbot.core.links import extract_links
from acchub_mailbot.core.messages import Message
from acchub_mailbot.core.negatives import automatic_reason, reply_reason
from acchub_mailbot.handlers.base import Decision, Verdict

NAME = "guest_invite"
INVITES_SENDER = "invites@microsoft.com"
REVIEW_REASON = (
    "a Microsoft guest invitation, not the Invite External Accountant wizard: "
    "the client may have invited you by hand"
)


def _redeem_link(message: Message) -> str | None:
    """The first link to Microsoft's B2B redemption endpoints, after unwrapping."""
    for link in extract_links(message.html, message.text):
        lowered = link.unwrapped.lower()
        if lowered.startswith(
            ("https://login.microsoftonline.com/redeem", "https://invitations.microsoft.com/")
        ):
            return link.unwrapped
    return None


def _signals(message: Message) -> list[str]:
    reasons = []
    if message.sender == INVITES_SENDER:
        reasons.append(f"sender: {INVITES_SENDER}")
    redeem = _redeem_link(message)
    if redeem:
        reasons.append("link shape: Entra B2B redeem link")
    return reasons


class GuestInviteHandler:
    """Sends Microsoft's hand-made guest invitations to a person for review."""

    name = NAME

    def decide(self, message: Message) -> Decision | None:
        """``needs_review`` for a guest invitation (also forwarded); ``None`` otherwise."""
        if automatic_reason(message):
            return None
        text = html_to_text(message.html) if message.html.strip() else message.text
        forward = detect_forward(text, message.html)
        if reply_reason(message, split_subject(message.subject), forward):
            return None
        reasons = _signals(message)
        original_id = None
        forwarded_by = None
        style = None
        if not reasons:
            for inner in message.attached:
                reasons = _signals(inner)
                if reasons:
                    original_id, forwarded_by, style = (
                        inner.message_id,
                        message.sender,
                        "attachment",
                    )
                    reasons.insert(0, "forward: attached message (message/rfc822)")
                    break
        if (
            not reasons
            and forward is not None
            and INVITES_SENDER in (forward.original_from or "").lower()
        ):
            reasons = [f"forward: {forward.label}", f"forwarded from: {INVITES_SENDER}"]
            forwarded_by, style = message.sender, forward.style
        if not reasons:
            return None
        if forward is not None and style is None and forward.style not in ("quoted",):
            forwarded_by, style = message.sender, forward.style
        return Decision(
            Verdict.NEEDS_REVIEW,
            NAME,
            reasons=(*reasons, REVIEW_REASON),
            original_message_id=original_id,
            forwarded_by=forwarded_by,
            forward_style=style,
        )


__all__ = ["GuestInviteHandler"]
