"""Who may forward invitations into a shared mailbox, and what happens to a forward from others.

In a firm, every accountant forwards their clients' invitations to one address. Anyone on the
internet can write to that address and dress a message up as a forward, so a forwarded
invitation registers a client only when it comes from one of the firm's own people *and* the
receiving server vouches for the sender's domain (:mod:`acchub_mailbot.core.authresults`). A forward
that fails either test is turned into ``needs_review`` with a reason a person can act on. Direct
(not forwarded) invitations are not this module's business: they keep working as in a personal
inbox, where the URL checks are the protection.

Pure: plain values in, plain values out; the shell builds a :class:`ForwarderPolicy` per mailbox
from the configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from acchub_mailbot.core.authresults import domain_of, split_header_values, vouch_for
from acchub_mailbot.core.decision import Decision, Verdict
from acchub_mailbot.core.forwards import is_forward_subject
from acchub_mailbot.core.messages import Message

#: The special ``digest_to`` value meaning "each forwarder gets their own digest".
FORWARDERS_KEYWORD = "forwarders"


def _normalize_entry(entry: str) -> str:
    """``Alice@Firm.example`` -> ``alice@firm.example``; ``@Firm.example`` -> ``firm.example``."""
    text = entry.strip().strip("<>").strip().lower().rstrip(".")
    return text[1:] if text.startswith("@") else text


@dataclass(frozen=True)
class ForwarderPolicy:
    """Who may forward into one mailbox.

    ``allowed`` holds addresses (``alice@firm.example``) and domains (``firm.example``, written
    ``@firm.example`` or ``firm.example`` in the config), lower-cased. A domain entry admits
    that exact domain, not its subdomains: a firm that wants ``eu.firm.example`` lists it.
    ``trusted_authserv_id`` names the receiving server whose ``Authentication-Results`` count;
    without one, or when that server left no header, ``trust_without_authresults`` decides.
    """

    allowed: frozenset[str]
    trusted_authserv_id: str | None = None
    trust_without_authresults: bool = False

    @classmethod
    def build(
        cls,
        *,
        forwarders: Iterable[str] | None,
        mailbox_address: str,
        digest_to: Iterable[str] = (),
        trusted_authserv_id: str | None = None,
        trust_without_authresults: bool = False,
    ) -> ForwarderPolicy:
        """The policy for one mailbox. Without ``forwarders`` the mailbox's own address and its
        ``digest_to`` addresses are the allowed forwarders (a personal inbox forwards to itself)."""
        if forwarders is None:
            entries = [mailbox_address, *digest_to]
            # Only addresses here: an IMAP username may not be one, and "forwarders" is a keyword.
            chosen = {_normalize_entry(e) for e in entries if "@" in e.strip("@")}
        else:
            chosen = {_normalize_entry(e) for e in forwarders}
        return cls(
            allowed=frozenset(e for e in chosen if e and e != FORWARDERS_KEYWORD),
            trusted_authserv_id=(trusted_authserv_id or "").strip().lower() or None,
            trust_without_authresults=trust_without_authresults,
        )

    def allows(self, address: str | None) -> bool:
        """True when ``address`` is listed, or its domain is."""
        text = _normalize_entry(address or "")
        if "@" not in text:
            return False
        return text in self.allowed or domain_of(text) in self.allowed


@dataclass(frozen=True)
class ForwardJudgement:
    """The verdict on who forwarded a message.

    ``allowed`` is True for a direct message and for a forward from an allowed, vouched-for
    sender. ``forwarder`` is the outer sender of a forward (``None`` for a direct message).
    ``reason`` says why, in words fit for a report. ``decision`` is the decision to act on: the
    handler's own, or ``needs_review`` with ``reason`` added when an invitation was refused.
    """

    allowed: bool
    forwarder: str | None
    reason: str
    decision: Decision


def is_forwarded(message: Message, decision: Decision) -> bool:
    """Was the message passed on by someone (inline, as an attachment, or by subject)?"""
    return bool(
        decision.forward_style
        or decision.forwarded_by
        or message.attached
        or is_forward_subject(message.subject)
    )


def forwarder_of(message: Message, decision: Decision) -> str | None:
    """The person who forwarded the message: its outer ``From:``, the address DMARC vouches for.

    Never ``Reply-To`` nor the address a forwarding client wrote in the body, which anyone can set.
    """
    if not is_forwarded(message, decision):
        return None
    return (message.sender or "").strip().lower() or None


def _refuse(decision: Decision, reason: str) -> Decision:
    """An invitation becomes ``needs_review``; other verdicts keep theirs, with the reason noted."""
    reasons = (*decision.reasons, reason)
    if decision.verdict is Verdict.INVITATION:
        return replace(decision, verdict=Verdict.NEEDS_REVIEW, reasons=reasons)
    if decision.verdict is Verdict.NEEDS_REVIEW:
        return replace(decision, reasons=reasons)
    return decision


def judge_forward(
    message: Message, decision: Decision, policy: ForwarderPolicy
) -> ForwardJudgement:
    """Accept a forward only from an allowed forwarder whose domain the receiving server vouches
    for; direct messages pass unchanged."""
    forwarder = forwarder_of(message, decision)
    if forwarder is None:
        if is_forwarded(message, decision):
            reason = "forwarded, but the forwarder's address is missing"
            return ForwardJudgement(False, None, reason, _refuse(decision, reason))
        return ForwardJudgement(True, None, "not forwarded", decision)
    if not policy.allows(forwarder):
        reason = f"forwarded by {forwarder}, who is not an allowed forwarder"
        return ForwardJudgement(False, forwarder, reason, _refuse(decision, reason))
    domain = domain_of(forwarder)
    if policy.trusted_authserv_id is None:
        if policy.trust_without_authresults:
            return ForwardJudgement(
                True, forwarder, "allowed forwarder (not authenticated)", decision
            )
        reason = (
            f"cannot check that {forwarder} really sent it: no trusted receiving server is "
            "configured (trusted_authserv_id)"
        )
        return ForwardJudgement(False, forwarder, reason, _refuse(decision, reason))
    values = split_header_values(message.headers.get("authentication-results", ""))
    vouch = vouch_for(values, domain, policy.trusted_authserv_id)
    if vouch.vouched:
        return ForwardJudgement(True, forwarder, f"allowed forwarder ({vouch.reason})", decision)
    if vouch.missing and policy.trust_without_authresults:
        reason = f"allowed forwarder ({vouch.reason}; trusted by configuration)"
        return ForwardJudgement(True, forwarder, reason, decision)
    reason = f"the receiving server did not vouch for {forwarder}'s domain ({vouch.reason})"
    return ForwardJudgement(False, forwarder, reason, _refuse(decision, reason))


__all__ = [
    "FORWARDERS_KEYWORD",
    "ForwardJudgement",
    "ForwarderPolicy",
    "forwarder_of",
    "is_forwarded",
    "judge_forward",
]
