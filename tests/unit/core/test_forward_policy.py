"""Who may forward invitations into a shared mailbox, judged on real forwards from the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from acchub_mailbot.core.forward_policy import ForwarderPolicy, forwarder_of, judge_forward
from acchub_mailbot.core.messages import Message, parse_message
from acchub_mailbot.handlers import decide
from acchub_mailbot.handlers.base import Verdict

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MX = "mx.firm.example"
RACHEL = "rachel.kim@brightledger.example"
PASS = f"{MX}; spf=pass smtp.mailfrom=brightledger.example; dmarc=pass header.from=brightledger.example"  # noqa: E501 - one header as a server writes it
FAIL = PASS.replace("=pass", "=fail")

#: Inline (Gmail) and as-attachment forwards by rachel.kim@brightledger.example, and a direct one.
INLINE = "forward-gmail-en-hub.eml"
ATTACHED = "attachment-gmail-hub.eml"
DIRECT = "current-en-custom-domain.eml"


def load(name: str, *auth_results: str) -> Message:
    """A corpus email as our receiving server would have stored it, with its headers on top."""
    top = b"".join(f"Authentication-Results: {value}\r\n".encode() for value in auth_results)
    return parse_message(top + (CORPUS / name).read_bytes())


def policy(*forwarders: str, **kw: bool) -> ForwarderPolicy:
    return ForwarderPolicy.build(
        forwarders=forwarders or None,
        mailbox_address="invites@firm.example",
        digest_to=["admin@firm.example"],
        trusted_authserv_id=MX,
        **kw,
    )


@pytest.mark.parametrize("name", [INLINE, ATTACHED])
def test_allowed_vouched_forwarder_keeps_the_invitation(name: str) -> None:
    """An inline or attached forward from a listed, DMARC-passing sender stays an invitation."""
    message = load(name, PASS)
    decision = decide(message)
    judgement = judge_forward(message, decision, policy(RACHEL))
    assert judgement.allowed
    assert judgement.forwarder == RACHEL
    assert judgement.reason == "allowed forwarder (DMARC pass)"
    assert judgement.decision is decision
    assert judgement.decision.verdict is Verdict.INVITATION


@pytest.mark.parametrize("name", [INLINE, ATTACHED])
def test_forward_from_outside_the_list_needs_review(name: str) -> None:
    """A DMARC-passing forward from someone not listed registers nothing and says who it was."""
    message = load(name, PASS)
    judgement = judge_forward(message, decide(message), policy("alice@firm.example"))
    assert not judgement.allowed
    reason = f"forwarded by {RACHEL}, who is not an allowed forwarder"
    assert judgement.reason == reason
    assert judgement.decision.verdict is Verdict.NEEDS_REVIEW
    assert judgement.decision.reasons[-1] == reason
    assert judgement.decision.client_url  # kept, so the report can show what was refused


@pytest.mark.parametrize(
    ("auth_results", "why"),
    [
        ([FAIL], "DMARC fail"),
        ([], f"no Authentication-Results from {MX}"),
        ([PASS.replace(MX, "mx.attacker.example")], f"no Authentication-Results from {MX}"),
        (
            [f"{MX}; spf=pass smtp.mailfrom=attacker.example", PASS.replace(MX, "relay.example")],
            "no aligned pass for brightledger.example (spf=pass)",
        ),
    ],
)
def test_listed_forwarder_without_a_vouch_needs_review(auth_results: list[str], why: str) -> None:
    """A listed sender whose domain our server did not vouch for may be forged: needs review."""
    message = load(INLINE, *auth_results)
    judgement = judge_forward(message, decide(message), policy(RACHEL))
    assert not judgement.allowed
    assert judgement.reason == f"the receiving server did not vouch for {RACHEL}'s domain ({why})"
    assert judgement.decision.verdict is Verdict.NEEDS_REVIEW


def test_missing_header_is_trusted_only_when_configured() -> None:
    """``trust_without_authresults`` admits a forward without our header, never a failing one."""
    lenient = policy(RACHEL, trust_without_authresults=True)
    bare = load(INLINE)
    assert judge_forward(bare, decide(bare), lenient).allowed
    failing = load(INLINE, FAIL)
    assert not judge_forward(failing, decide(failing), lenient).allowed


def test_without_a_trusted_server_only_the_switch_admits_forwards() -> None:
    """With no ``trusted_authserv_id`` nothing can be verified, so the switch alone decides."""
    message = load(INLINE, PASS)
    strict = ForwarderPolicy.build(forwarders=[RACHEL], mailbox_address="invites@firm.example")
    judgement = judge_forward(message, decide(message), strict)
    assert not judgement.allowed
    assert "trusted_authserv_id" in judgement.reason
    lenient = ForwarderPolicy.build(
        forwarders=[RACHEL], mailbox_address="invites@firm.example", trust_without_authresults=True
    )
    assert judge_forward(message, decide(message), lenient).allowed


def test_direct_invitation_passes_unchanged() -> None:
    """A personal inbox's direct invitation needs no forwarder and no authentication header."""
    message = load(DIRECT)
    decision = decide(message)
    judgement = judge_forward(message, decision, policy("alice@firm.example"))
    assert (judgement.allowed, judgement.forwarder) == (True, None)
    assert judgement.decision is decision
    assert forwarder_of(message, decision) is None


@pytest.mark.parametrize(
    ("entries", "address", "allowed"),
    [
        (["Rachel.Kim@BrightLedger.example"], RACHEL, True),
        (["@brightledger.example"], RACHEL, True),
        (["BrightLedger.example."], RACHEL, True),
        (["brightledger.example"], "rachel@eu.brightledger.example", False),
        (["brightledger.example"], "rachel@brightledger.example.evil.example", False),
        (["alice@firm.example"], RACHEL, False),
        (["alice@firm.example"], "", False),
        (["alice@firm.example"], "not-an-address", False),
    ],
)
def test_entries_are_addresses_or_exact_domains(
    entries: list[str], address: str, allowed: bool
) -> None:
    """Entries compare case-insensitively; a domain admits that domain only, not look-alikes."""
    assert policy(*entries).allows(address) is allowed


def test_default_forwarders_are_the_mailbox_and_its_digest_recipients() -> None:
    """Without ``forwarders`` the mailbox itself and its digest_to addresses may forward."""
    default = ForwarderPolicy.build(
        forwarders=None,
        mailbox_address="Invites@Firm.example",
        digest_to=["dana@firm.example", "forwarders"],
    )
    assert default.allowed == frozenset({"invites@firm.example", "dana@firm.example"})
    imap_login = ForwarderPolicy.build(forwarders=None, mailbox_address="invites", digest_to=[])
    assert imap_login.allowed == frozenset()


def test_rejected_lookalike_forward_keeps_its_verdict() -> None:
    """Refusing a forwarder never upgrades a rejected look-alike to needs_review."""
    message = load("forward-gmail-en-hub.eml", FAIL)
    decision = decide(message)
    rejected = decision.__class__(Verdict.REJECTED, decision.handler, forwarded_by=RACHEL)
    judgement = judge_forward(message, rejected, policy(RACHEL))
    assert not judgement.allowed
    assert judgement.decision is rejected
