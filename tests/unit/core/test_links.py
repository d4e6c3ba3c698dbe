"""Link extraction from HTML and text, and offline unwrapping of gateway rewrites."""

from __future__ import annotations

import pytest

from acchub_mailbot.core.links import (
    extract_links,
    is_mimecast,
    links_from_html,
    links_from_text,
    mimecast_domain,
    mimecast_wrap,
    proofpoint_v1_wrap,
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
    safe_links_wrap,
    unwrap,
)

LINK1 = "https://businesscentral.dynamics.com/kestrel.onmicrosoft.com?redirectedfromsignup=1"
HUB = (
    "https://accountants.dynamics.com/?page=21&mode=Edit&filter=Customer.'Client Link' IS "
    "'''https%3a%2f%2fbusinesscentral.dynamics.com%2fkestrel.onmicrosoft.com%3fredirectedfromsignup"
    "%3d1''' AND Customer.Name IS '''Kestrel+Ltd'''"
)


@pytest.mark.parametrize(
    ("wrapped", "expected", "wrappers"),
    [
        # The real Safe Links shape from the research notes (section 7.1).
        (
            "https://eur02.safelinks.protection.outlook.com/?url=http%3A%2F%2Fwww.integrand.nl%2F"
            "&data=05%7C01%7Cx%40y.nl%7Cabc%7Cdef%7C0%7C0%7C638%7CUnknown%7CTWFpbGZsb3d8%7C3000"
            "%7C%7C%7C&sdata=abc%3D&reserved=0",
            "http://www.integrand.nl/",
            ("safelinks",),
        ),
        # Any regional host counts, not a fixed list.
        (
            "https://zaf77.safelinks.protection.outlook.com/?url=https%3A%2F%2Fa.example%2Fp&data=1",
            "https://a.example/p",
            ("safelinks",),
        ),
        # Proofpoint v2, the documented example.
        (
            "https://urldefense.proofpoint.com/v2/url?u=http-3A__www.example.org_url&d=DwMF&c=x&r=y",
            "http://www.example.org/url",
            ("proofpoint-v2",),
        ),
        # Proofpoint v1: u up to &k=, percent-decoded then HTML-unescaped.
        (
            "https://urldefense.proofpoint.com/v1/url?u=http%3A%2F%2Fa.example%2F%3Fx%3D1%26amp%3By%3D2"
            "&k=abc&r=def",
            "http://a.example/?x=1&y=2",
            ("proofpoint-v1",),
        ),
        # Proofpoint v3 without substitutions.
        (
            "https://urldefense.com/v3/__https://google.com__;!!D0SnjzUQI17x!abcdef$",
            "https://google.com",
            ("proofpoint-v3",),
        ),
        # v3: each * takes the next decoded character ("JSU" is base64url of "%%").
        (
            "https://urldefense.com/v3/__https://a.example/x*20y*41__;JSU!!tok!sig$",
            "https://a.example/x%20y%41",
            ("proofpoint-v3",),
        ),
        # v3: **A is a run of two characters.
        (
            "https://urldefense.com/v3/__https://a.example/**Aabc__;JSU!!tok!sig$",
            "https://a.example/%%abc",
            ("proofpoint-v3",),
        ),
        # A chain: Safe Links around Proofpoint v2.
        (
            safe_links_wrap(proofpoint_v2_wrap(LINK1), region="nam12"),
            LINK1,
            ("safelinks", "proofpoint-v2"),
        ),
        # A percent-encoded URL written out as text.
        ("https%3A%2F%2Fa.example%2Fp%3Fq%3D1", "https://a.example/p?q=1", ("percent-encoding",)),
        # Not a wrapper: left alone.
        (LINK1, LINK1, ()),
    ],
)
def test_unwrap_known_shapes(wrapped: str, expected: str, wrappers: tuple[str, ...]) -> None:
    """Each documented wrapper shape gives back the original URL and names the wrappers."""
    result = unwrap(wrapped)
    assert result.url == expected
    assert result.wrappers == wrappers
    assert result.opaque is False


def test_hub_link_survives_every_wrapper_exactly() -> None:
    """The hub href keeps raw spaces and quotes after undoing the wrapper's own encoding."""
    for wrap in (safe_links_wrap, proofpoint_v1_wrap, proofpoint_v2_wrap, proofpoint_v3_wrap):
        wrapped = wrap(HUB)
        assert " " not in wrapped and "'" not in wrapped.split("?", 1)[1]
        assert unwrap(wrapped).url == HUB


def test_mimecast_is_opaque_and_its_domain_only_a_hint() -> None:
    """Mimecast cannot be reversed: the link is marked opaque, domain= is never the link."""
    wrapped = mimecast_wrap(LINK1, region="eu", key="rADECvZvDhygB3ktQtrXG")
    assert wrapped == (
        "https://protect-eu.mimecast.com/s/rADECvZvDhygB3ktQtrXG?domain=businesscentral.dynamics.com"
    )
    result = unwrap(wrapped)
    assert result.opaque is True
    assert result.url == wrapped
    assert is_mimecast(wrapped)
    assert mimecast_domain(wrapped) == "businesscentral.dynamics.com"
    assert mimecast_domain(LINK1) is None
    # Safe Links around Mimecast: unwrapped once, then opaque.
    chained = unwrap(safe_links_wrap(wrapped))
    assert chained.opaque and chained.wrappers == ("safelinks",)


def test_bare_link_in_business_central_html() -> None:
    """Link 1 is plain text between ``</br>`` tags; the hub link is an anchor with raw spaces."""
    html = (
        "Best Regards,</br>Kestrel Ltd</br></br>Open the following link to verify that you can "
        f"log in.</br>{LINK1}</br></br></br>To add my company to your Accountant Hub, click "
        f'<a href="{HUB}">here</a>.</br>'
    )
    links = links_from_html(html)
    anchors = [link for link in links if link.source == "href"]
    texts = [link for link in links if link.source == "text"]
    assert [(a.href, a.text) for a in anchors] == [(HUB, "here")]
    assert [t.href for t in texts] == [LINK1]


def test_entities_in_hrefs_are_decoded() -> None:
    """``&amp;`` in an attribute is ``&`` in the link."""
    wrapped = safe_links_wrap(LINK1)
    html = f'<a href="{wrapped.replace("&", "&amp;")}">{LINK1}</a>'
    (anchor, text) = links_from_html(html)
    assert anchor.href == wrapped
    assert anchor.unwrapped == LINK1
    assert anchor.text == LINK1
    assert text.href == LINK1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Open this: {LINK1}.", [LINK1]),
        (f"({LINK1})", [LINK1]),
        (f"here<{HUB}>", [HUB]),
        ("see https://a.example/x?y=1&amp;z=2, thanks", ["https://a.example/x?y=1&z=2"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("no links here", []),
    ],
)
def test_links_in_plain_text(text: str, expected: list[str]) -> None:
    """Bare URLs lose trailing punctuation; ``<...>`` URLs may contain spaces."""
    assert [link.href for link in links_from_text(text)] == expected


def test_extract_links_merges_bodies_without_duplicates() -> None:
    """The same link in HTML and text parts is reported once per source."""
    links = extract_links(f"<p>{LINK1}</p>", f"{LINK1}\n")
    assert [link.href for link in links] == [LINK1]


def test_malformed_html_does_not_raise() -> None:
    """Broken markup still gives the anchors seen before the break."""
    links = links_from_html('<a href="https://a.example/">unclosed <b><a href=https://b.example/>x')
    assert {link.href for link in links} >= {"https://a.example/", "https://b.example/"}


def test_broken_wrappers_are_left_as_they_are() -> None:
    """A wrapper whose payload cannot be decoded is returned untouched, without raising."""
    for text in (
        "https://urldefense.com/v3/__https://a.example/*__;@@@!!x!y$",
        "https://urldefense.com/v3/__https://a.example/**A__;JQ!!x!y$",
        "https://eur01.safelinks.protection.outlook.com/?data=1",
        "https://urldefense.proofpoint.com/v9/url?u=x",
    ):
        assert unwrap(text).url == text
