"""``inspect --json``: what the detector concludes about one raw message, as plain data.

The dictionary's keys are a contract shared with the labelled corpus and the CLI, so they are
fixed here in one place. Inspection must work on anything, including bytes that are not mail.
"""

from __future__ import annotations

from acchub_mailbot.core.messages import parse_message
from acchub_mailbot.handlers import decide
from acchub_mailbot.handlers.base import Verdict

#: The keys of every result, in output order.
INSPECT_KEYS = (
    "path",
    "message_id",
    "verdict",
    "company_name",
    "client_url",
    "access_link",
    "add_client_link",
    "reasons",
)


def inspect_bytes(raw: bytes, path: str) -> dict[str, object]:
    """Decide on ``raw`` and report it; never raises (a fault becomes a ``needs_review``)."""
    try:
        message = parse_message(raw)
        decision = decide(message)
    except Exception as exc:  # the contract is "never raises": a person looks at it instead
        return {
            "path": path,
            "message_id": None,
            "verdict": str(Verdict.NEEDS_REVIEW),
            "company_name": None,
            "client_url": None,
            "access_link": None,
            "add_client_link": None,
            "reasons": [f"could not be analysed: {type(exc).__name__}: {exc}"],
        }
    reasons = list(decision.reasons)
    if not message.message_id and not message.subject and not message.sender:
        reasons.append("no message headers: probably not an email")
    return {
        "path": path,
        "message_id": decision.original_message_id or message.message_id,
        "verdict": str(decision.verdict),
        "company_name": decision.company_name,
        "client_url": decision.client_url,
        "access_link": decision.access_link,
        "add_client_link": decision.add_client_link,
        "reasons": reasons,
    }


__all__ = ["INSPECT_KEYS", "inspect_bytes"]
