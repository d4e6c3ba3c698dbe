"""Links that lie: generated anchors whose text shows a Business Central link while the target,
after unwrapping, is elsewhere, are always rejected and never registered; agreeing ones pass."""

from __future__ import annotations

import html
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.core.links import Link, links_from_html, safe_links_wrap
from acchub_mailbot.core.lyinglinks import find_lie
from tests import mailfactory

TENANTS = st.from_regex(r"[a-z][a-z0-9]{1,10}\.onmicrosoft\.com", fullmatch=True)
ACCESS = "https://businesscentral.dynamics.com/{tenant}?redirectedfromsignup=1"
EVIL = st.from_regex(r"[a-z]{3,10}\.(?:example|test|ru|io)", fullmatch=True)


@st.composite
def lying_targets(draw: st.DrawFn, tenant: str) -> str:
    """Where a lying anchor really leads."""
    kind = draw(
        st.sampled_from(
            ["other-host", "other-tenant", "javascript", "data", "redirector", "http", "lookalike"]
        )
    )
    evil = draw(EVIL)
    if kind == "other-host":
        return f"https://{evil}/{tenant}?redirectedfromsignup=1"
    if kind == "other-tenant":
        return ACCESS.format(tenant="x" + tenant)
    if kind == "javascript":
        return "javascript:location='https://" + evil + "/'"
    if kind == "data":
        return "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="
    if kind == "redirector":
        return f"https://click.{evil}/r?u={quote('https://' + evil + '/login', safe='')}"
    if kind == "http":
        return f"http://{evil}/"
    return f"https://businesscentral.dynamics.com.{evil}/{tenant}?redirectedfromsignup=1"


def _message(tenant: str, href: str, text: str) -> bytes:
    anchor = f'<a href="{html.escape(href)}">{html.escape(text)}</a>'
    return mailfactory.invitation(tenant=tenant, link1=anchor)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), TENANTS, st.booleans(), st.booleans())
def test_a_link_whose_text_and_target_disagree_is_rejected(  # type: ignore[no-untyped-def]
    data, tenant, wrap_target, schemeless_text
) -> None:
    shown = ACCESS.format(tenant=tenant)
    target = data.draw(lying_targets(tenant))
    if wrap_target and target.startswith("http"):
        target = safe_links_wrap(target)
    text = shown.removeprefix("https://") if schemeless_text else shown
    _msg, decision = decide_bytes(_message(tenant, target, text))
    assert decision.verdict.value == "rejected", decision.reasons
    assert decision.client_url is None
    assert any("the link text shows" in r for r in decision.reasons), decision.reasons


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TENANTS, st.booleans(), st.booleans())
def test_a_genuine_link_behind_a_gateway_agrees_with_its_text(  # type: ignore[no-untyped-def]
    tenant, wrap_text, extra_param
) -> None:
    """Text and target are the same link (the target wrapped, the text perhaps too, extra
    query parameters kept): registered, not rejected."""
    shown = ACCESS.format(tenant=tenant)
    target = safe_links_wrap(shown + ("&company=CRONUS" if extra_param else ""))
    text = safe_links_wrap(shown) if wrap_text else shown
    _msg, decision = decide_bytes(_message(tenant, target, text))
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{tenant}"


def test_the_reason_names_text_and_target() -> None:
    (link,) = links_from_html(
        '<a href="https://evil.example/x">https://businesscentral.dynamics.com/a.com</a>'
    )[:1]
    lie = find_lie(link)
    assert lie is not None
    assert "https://businesscentral.dynamics.com/a.com" in lie.reason
    assert "https://evil.example/x" in lie.reason


def test_a_shortened_text_is_compared_as_a_prefix() -> None:
    target = ACCESS.format(tenant="contoso.onmicrosoft.com")
    for text in ("https://businesscentral.dynamics.com/contoso.onmi...",
                 "https://businesscentral.dynamics.com/contoso.onmi\u2026"):  # fmt: skip
        assert find_lie(Link(target, text, target)) is None
    assert find_lie(Link("https://evil.example/", "https://businesscentral.dynamics.com/c...",
                         "https://evil.example/")) is not None  # fmt: skip


def test_anchors_that_show_no_url_or_unrelated_urls_are_not_judged() -> None:
    target = "https://tracking.example/abc"
    assert find_lie(Link(target, "Click here", target)) is None
    assert find_lie(Link(target, "https://www.example.org/news", target)) is None


def test_two_links_naming_different_tenants_are_rejected() -> None:
    raw = mailfactory.invitation(
        tenant="one.onmicrosoft.com",
        link1=ACCESS.format(tenant="one.onmicrosoft.com")
        + "</br>"
        + ACCESS.format(tenant="two.onmicrosoft.com"),
    )
    _msg, decision = decide_bytes(raw)
    assert decision.verdict.value == "rejected"
    assert any("different tenants" in r for r in decision.reasons), decision.reasons
