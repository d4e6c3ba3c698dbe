"""The company name: the hub filter's name, else the welcome text's last line by position, and
never a person, an address or a domain (the pure rules, then whole emails through the detector)."""

from __future__ import annotations

import html
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.app.inspect import inspect_bytes
from acchub_mailbot.core.companyname import Person, company_name, people, refusal
from tests import mailfactory

LINK1 = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1"
OLIVER = Person("Oliver Grant", "oliver.grant@kestrel-joinery.example")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("oliver.grant@kestrel-joinery.example", "email address"),
        ("https://kestrel-joinery.example", "link"),
        ("kestrel-joinery.example", "domain"),
        ("www.kestrel-joinery.com", "domain"),
        ("KESTREL.ONMICROSOFT.COM", "domain"),
        ("Best Regards,", "comma"),
        ("Oliver", "person"),
        ("OLIVER", "person"),
        ("Oliver Grant", "person"),
        ("Grant", "person"),
        ("x" * 200, "sentence"),
    ],
)
def test_what_is_never_a_company(line: str, why: str) -> None:
    reason = refusal(line, [OLIVER])
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "line",
    [
        "Kestrel Joinery Ltd",
        "Northwind Traders Inc.",
        "O’Brien Joinery (Cork) Ltd",
        "Bäckerei Müller GmbH & Co. KG",
        "株式会社ケストレル",
        "Grant & Partners LLP",  # a person's surname inside a firm's name is still the firm
    ],
)
def test_company_names_pass(line: str) -> None:
    assert refusal(line, [OLIVER]) is None


def test_a_shared_mailbox_named_after_the_company_is_not_a_person() -> None:
    shared = people("Kestrel Joinery <info@kestrel-joinery.example>")
    assert refusal("Kestrel Joinery", shared) is None
    assert refusal("Kestrel Joinery", [OLIVER]) is None


def test_people_reads_every_address_header_form() -> None:
    found = people(
        '"Grant, Oliver" <oliver.grant@k.example>', "dana@firm.example, Bo <b@x.example>"
    )
    assert [p.address for p in found] == [
        "oliver.grant@k.example",
        "dana@firm.example",
        "b@x.example",
    ]
    assert refusal("Dana", found) is not None  # the recipient's first name, from the address


def test_the_hub_name_wins_and_the_earliest_mention_of_link1_decides() -> None:
    lines = ("Best Regards,", "Oliver", "Kestrel Joinery Ltd", "", "Open the link.", LINK1)
    assert company_name("Kestrel Hub Name", lines, [LINK1]).name == "Kestrel Hub Name"
    assert company_name(None, lines, [LINK1]).name == "Kestrel Joinery Ltd"
    forwarded = ("FYI", "", LINK1, *lines)  # a forwarder pasted the link above the original
    assert company_name(None, forwarded, [LINK1]).name == "Kestrel Joinery Ltd"


def test_no_name_says_why() -> None:
    lines = ("Best Regards,", "Oliver Grant", "", "Open the link.", LINK1)
    found = company_name(None, lines, [LINK1], persons=[OLIVER])
    assert found.name is None
    assert "not found" in found.reason and "Oliver Grant" in found.reason


# --- whole emails --------------------------------------------------------------------------------


def _email(
    welcome_tail: str,
    *,
    link_html: str = LINK1,
    hub: str | None = None,
    html_body: bool = True,
    sender: str = "Oliver Grant <oliver.grant@kestrel-joinery.example>",
) -> bytes:
    lines = [
        "Hello Dana,",
        "Please accept this invitation to get access to my Dynamics 365 Business Central.",
        "",
        *welcome_tail.split("\n"),
        "",
        "Open the following link to verify that you can log in.",
        link_html,
        "",
    ]
    if hub is not None:
        lines.append(f'To add my company to your Accountant Hub, click <a href="{hub}">here</a>.')
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Dana Fisher <dana@firm.example>"
    msg["Subject"] = "You have been invited to Dynamics 365 Business Central"
    msg["Message-ID"] = "<n@kestrel-joinery.example>"
    if html_body:
        msg.set_content("</br>".join(lines), subtype="html")
    else:
        msg.set_content("\n".join(lines))
    return msg.as_bytes()


@pytest.mark.parametrize("html_body", [True, False])
@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("Best Regards,\nOliver Grant\nKestrel Joinery Ltd", "Kestrel Joinery Ltd"),
        ("Best Regards,\nOliver Grant", None),
        ("Best Regards,\nOliver", None),
        ("Best Regards,\nOLIVER.GRANT", None),
        ("Best Regards,\noliver.grant@kestrel-joinery.example", None),
        ("Best Regards,\nkestrel-joinery.example", None),
        ("Cheers,\nDana", None),
    ],
)
def test_the_company_line_by_position_or_nothing(
    tail: str, expected: str | None, html_body: bool
) -> None:
    result = inspect_bytes(_email(tail, html_body=html_body), "x.eml")
    assert result["verdict"] == "invitation"
    assert result["company_name"] == expected
    assert any(r.startswith("company name: ") for r in result["reasons"])  # type: ignore[union-attr]


@pytest.mark.parametrize("label", ["here", "Open Business Central", LINK1])
def test_the_link_label_does_not_matter(label: str) -> None:
    anchor = f'<a href="{html.escape(LINK1)}">{html.escape(label)}</a>'
    result = inspect_bytes(
        _email("Regards,\nOliver\nKestrel Joinery Ltd", link_html=anchor), "x.eml"
    )
    assert (result["verdict"], result["company_name"]) == ("invitation", "Kestrel Joinery Ltd")


WRAPPERS = {
    "percent in a query value": lambda u: (
        "https://links.gateway.example/url?a=" + quote(u, safe="") + "&c=E,1"
    ),
    "percent in the path": lambda u: "https://secure-web.gateway.example/1AbC/" + quote(u, safe=""),
    "percent twice": lambda u: (
        "https://r.gateway.example/?target=" + quote(quote(u, safe=""), safe="")
    ),
}


@pytest.mark.parametrize("wrap", sorted(WRAPPERS))
def test_the_hub_name_is_read_from_a_hub_link_inside_an_unknown_wrapper(wrap: str) -> None:
    hub = mailfactory.hub_link(LINK1, "Kestrel Joinery Holdings")
    wrapped = html.escape(WRAPPERS[wrap](hub), quote=True)
    result = inspect_bytes(_email("Regards,\nOliver", hub=wrapped), "x.eml")
    assert result["verdict"] == "invitation"
    assert result["company_name"] == "Kestrel Joinery Holdings"
    assert result["add_client_link"] == hub


_NAME_WORD = st.text(st.characters(categories=("Lu", "Ll")), min_size=2, max_size=10).filter(
    lambda w: w.upper().casefold() == w.casefold()  # no dotless i and the like
)
_SUFFIX = st.sampled_from(
    ["Ltd", "GmbH", "AB", "Oy", "S.L.", "B.V.", "ApS", "Inc.", "SA", "s.r.o."]
)


@given(
    first=_NAME_WORD,
    last=_NAME_WORD,
    company=st.lists(_NAME_WORD, min_size=1, max_size=3),
    suffix=_SUFFIX,
)
def test_a_person_is_refused_and_a_company_kept_whatever_the_names(
    first: str, last: str, company: list[str], suffix: str
) -> None:
    person = Person(f"{first} {last}", f"{first}.{last}@firm.example".lower())
    firm = " ".join([*company, suffix])
    for who in (first, last, f"{first} {last}", f"{last} {first}".upper()):
        assert refusal(who, [person]) is not None
    if not {w.casefold() for w in company} <= {first.casefold(), last.casefold()}:
        assert refusal(firm, [person]) is None


def test_folding_never_splits_a_name_into_more_words() -> None:
    """``İ`` folds to ``i`` plus a combining dot and ``Ŀ`` to ``l·``: still two words, so the
    person is still recognised (a case the generator above found)."""
    person = Person("İA AĿĿB", "i̇a.aŀŀb@firm.example")
    for who in ("İA AĿĿB", "AĿĿB İA", "İA", "AĿĿB"):
        assert refusal(who, [person]) is not None, who
    hindi = Person("अनीता शर्मा", "")
    assert refusal("अनीता शर्मा", [hindi]) is not None
