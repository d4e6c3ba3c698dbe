"""Builders for test emails shaped like the ones Business Central sends (see docs/emails).

The invitation body follows page 9033's structure: an editable welcome text, then the fixed part
with link 1 as plain text, and in the Accountant Hub era the hub link and a marketing link.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote_plus


def dotnet_urlencode(value: str) -> str:
    """.NET HttpUtility.UrlEncode: lower-case hex, space as '+', -_.!*() kept."""
    encoded = quote_plus(value, safe="-_.!*()")
    out = []
    i = 0
    while i < len(encoded):
        if encoded[i] == "%":
            out.append(encoded[i : i + 3].lower())
            i += 3
        else:
            out.append(encoded[i])
            i += 1
    return "".join(out)


def hub_link(link1: str, name: str) -> str:
    return (
        "https://accountants.dynamics.com/?page=21&mode=Edit&filter=Customer.'Client Link' IS "
        f"'''{dotnet_urlencode(link1)}''' AND Customer.Name IS '''{dotnet_urlencode(name)}'''"
    )


def invitation(
    *,
    tenant: str = "kestrel.onmicrosoft.com",
    company: str = "Kestrel Joinery Ltd",
    accountant_first: str = "Dana",
    to: str = "dana@firm.example",
    sender: str = "admin@kestrel-joinery.example",
    hub_name: str | None = None,
    message_id: str | None = None,
    link1: str | None = None,
) -> bytes:
    """A direct invitation email. ``hub_name`` adds the Accountant Hub era links."""
    link1 = link1 or f"https://businesscentral.dynamics.com/{tenant}?redirectedfromsignup=1"
    body = (
        f"Hello {accountant_first},</br>Please accept this invitation to get access to my "
        f"Dynamics 365 Business Central.</br></br>Best Regards,</br>admin@{tenant}</br>{company}"
        "</br></br>Open the following link to verify that you can log in.</br>"
        f"{link1}</br></br></br>"
    )
    if hub_name is not None:
        body += (
            "To add my company to your Accountant Hub, click "
            f'<a href="{hub_link(link1, hub_name)}">'
            "here</a>.</br></br></br>Not using the Accountant Hub?  Click "
            '<a href="https://dynamics.microsoft.com/en-us/business-central/accountants">here</a>'
            " to learn more.</br>"
        )
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "You have been invited to Dynamics 365 Business Central"
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="kestrel-joinery.example")
    msg.set_content(body, subtype="html")
    return msg.as_bytes()


def ordinary(subject: str = "Lunch on Friday?", *, message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "colleague@firm.example"
    msg["To"] = "dana@firm.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="firm.example")
    msg.set_content("Shall we try the new place on the corner? See https://example.com/menu")
    return msg.as_bytes()


def lookalike(host: str = "businesscentral.dynamics.com.evil.example") -> bytes:
    return invitation(
        link1=f"https://{host}/kestrel.onmicrosoft.com?redirectedfromsignup=1",
        sender="it-support@evil.example",
    )
