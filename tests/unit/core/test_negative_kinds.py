"""Negatives by kind: meeting requests, read receipts, non-delivery reports of any vendor,
recalls, list mail and replies never register, whatever invitation they quote."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.pipeline import decide_bytes

LINK = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com?redirectedfromsignup=1"
BODY = (
    "Hello Dana,\nPlease accept this invitation to get access to my Dynamics 365 Business "
    f"Central.\n\nBest Regards,\nContoso Ltd\n\nOpen the following link to verify that you can "
    f"log in.\n{LINK}\n"
)
SUBJECT = "You have been invited to Dynamics 365 Business Central"


def _kind(kind: str, quoted: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "someone@example.com"
    msg["To"] = "dana@firm.example"
    msg["Subject"] = SUBJECT
    msg.set_content(quoted)
    if kind == "calendar":
        msg.add_alternative(
            "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Review\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n",
            subtype="calendar",
        )
    elif kind == "receipt":
        msg.replace_header("Subject", "Read: " + SUBJECT)
    elif kind == "recall":
        msg.replace_header("Subject", "Recall: " + SUBJECT)
    elif kind == "ndr-exchange":
        msg["X-MS-Exchange-Message-Is-Ndr"] = ""
    elif kind == "ndr-exim":
        msg["X-Failed-Recipients"] = "dana@firm.example"
    elif kind == "ndr-sender":
        msg.replace_header("From", "MAILER-DAEMON@mx.example.net")
    elif kind == "list":
        msg["List-Id"] = "<accountants.lists.example>"
    elif kind == "reply":
        msg.replace_header("Subject", "RE: " + SUBJECT)
        msg["In-Reply-To"] = "<orig@example.com>"
    return msg.as_bytes()


KINDS = ("calendar", "receipt", "recall", "ndr-exchange", "ndr-exim", "ndr-sender", "list",
         "reply")  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.sampled_from(["plain", "quoted", "indented"]))
def test_a_negative_kind_never_registers(kind: str, quoting: str) -> None:
    quoted = {
        "plain": BODY,
        "quoted": "\n".join("> " + line for line in BODY.splitlines()),
        "indented": "\n".join("    " + line for line in BODY.splitlines()),
    }[quoting]
    _msg, decision = decide_bytes(_kind(kind, quoted))
    assert decision.verdict.value in ("not_invitation", "needs_review"), (kind, decision.reasons)
    assert decision.client_url is None or decision.verdict.value == "needs_review"


def test_the_same_message_without_the_kind_registers() -> None:
    """The control: the quoted text alone is a real invitation, so the kinds above are tested."""
    _msg, decision = decide_bytes(_kind("none", BODY))
    assert decision.verdict.value == "invitation", decision.reasons
