"""Links broken by mail clients' hard wrapping are joined, or the HTML link wins."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.core.links import links_from_text

TENANT = "contoso-holdings.onmicrosoft.com"
LINK = f"https://businesscentral.dynamics.com/{TENANT}?redirectedfromsignup=1"
WELCOME = (
    "Hello Dana,\nPlease accept this invitation to get access to my Dynamics 365 Business "
    "Central.\n\nBest Regards,\nContoso Holdings\n\nOpen the following link to verify that you "
    "can log in.\n"
)


def _mail(text: str, html: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "admin@contoso.example"
    msg["To"] = "dana@firm.example"
    msg["Subject"] = "You have been invited to Dynamics 365 Business Central"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(10, len(LINK) - 2), st.sampled_from(["", "  ", "\t"]))
def test_a_bracketed_link_wrapped_anywhere_is_joined(cut: int, indent: str) -> None:
    text = WELCOME + f"<{LINK[:cut]}\n{indent}{LINK[cut:]}>\n"
    (link,) = [link for link in links_from_text(text) if "dynamics" in link.href]
    assert link.unwrapped == LINK
    _msg, decision = decide_bytes(_mail(text))
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{TENANT}"


@settings(max_examples=40, deadline=None)
@given(st.integers(len("https://businesscentral.dynamics.com/") + 3, len(LINK) - 2))
def test_an_unbracketed_wrap_loses_to_the_html_link(cut: int) -> None:
    text = WELCOME + f"{LINK[:cut]}\n{LINK[cut:]}\n"
    html = WELCOME.replace("\n", "<br>") + f'<a href="{LINK}">{LINK}</a><br>'
    _msg, decision = decide_bytes(_mail(text, html))
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{TENANT}"
    assert decision.company_name == "Contoso Holdings"


WRAPPED = {
    "safelinks": lambda u: (
        "https://eur02.safelinks.protection.outlook.com/?url="
        + quote(u, safe="")
        + "&data=05%7C02%7C&reserved=0"
    ),
    "unknown": lambda u: "https://links.shield.example/r?dest=" + quote(u, safe="") + "&t=9",
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(WRAPPED)), st.floats(0.1, 0.95), st.booleans())
def test_a_wrapped_gateway_link_anywhere_in_the_text_part_loses_to_the_html(
    name: str, where: float, html_is_plain: bool
) -> None:
    """The text part's copy of link 1 went through a gateway and then a hard wrap, cut anywhere
    (even inside the encoded value, which then decodes to a longer or broken URL): the HTML part
    shows link 1 whole and wins, as BC wrote it (plain text) or as an anchor."""
    wrapped = WRAPPED[name](LINK)
    at = max(12, int(len(wrapped) * where))
    text = WELCOME + f"{wrapped[:at]}\n{wrapped[at:]}\n"
    shown = LINK if html_is_plain else f'<a href="{WRAPPED[name](LINK)}">{LINK}</a>'
    html = WELCOME.replace("\n", "<br>") + shown + "<br>"
    _msg, decision = decide_bytes(_mail(text, html))
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.access_link == LINK
    assert decision.company_name == "Contoso Holdings"


def test_a_text_only_message_keeps_its_links_whatever_the_line_ends() -> None:
    """Without an HTML part nothing can win over the text: a URL at a line end is kept."""
    text = WELCOME + f"{LINK}\nThanks\n"
    _msg, decision = decide_bytes(_mail(text))
    assert decision.access_link == LINK


@pytest.mark.parametrize("cut", ["redirectedfromsignup", "redirectedfromsignup=", "redirected"])
def test_a_text_only_link_cut_inside_its_query_is_joined(cut: str) -> None:
    """A wrap inside the query leaves an access link that still classifies; it is joined when
    the last parameter was cut before its value, and left alone when the value was whole."""
    wrapped = WRAPPED["safelinks"](LINK)
    at = wrapped.index(quote(cut, safe="")) + len(quote(cut, safe=""))
    text = WELCOME + f"> {wrapped[:at]}\n> {wrapped[at:]}\n"
    _msg, decision = decide_bytes(_mail(text))
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.access_link == LINK


def test_a_whole_link_is_not_glued_to_the_next_line() -> None:
    text = WELCOME + f"{LINK}\nThanks,\nContoso Holdings\n"
    _msg, decision = decide_bytes(_mail(text))
    assert decision.access_link == LINK
