"""The generic gateway: wrappers nobody listed, generated from independent axes (host, where the
URL sits, how it is encoded, how many wrap it), are undone exactly and named in the reasons."""

from __future__ import annotations

import base64
import html
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.core import prefilter
from acchub_mailbot.core.gateways.avanan import avanan_wrap
from acchub_mailbot.core.gateways.bing import bing_wrap
from acchub_mailbot.core.gateways.generic import decode_value, unwrap_generic
from acchub_mailbot.core.links import (
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
    safe_links_wrap,
    unwrap,
)
from tests import mailfactory

ACCESS = "https://businesscentral.dynamics.com/{tenant}?redirectedfromsignup=1"
TENANTS = st.from_regex(r"[a-z][a-z0-9]{1,10}(?:-[a-z0-9]{1,8})?\.onmicrosoft\.com", fullmatch=True)
#: Random gateway hosts: never Microsoft's, never a named gateway's.
GATEWAY_HOSTS = st.from_regex(
    r"(?:[a-z][a-z0-9]{1,10}\.){1,3}(?:example|test|net|io|eu)", fullmatch=True
).filter(lambda h: not any(n in h for n in ("urldefense", "mimecast", "avanan")))
PARAMS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


def _encode(url: str, encoding: str) -> str:
    if encoding == "percent":
        return quote(url, safe="")
    if encoding == "percent2":
        return quote(quote(url, safe=""), safe="")
    if encoding == "base64":
        return quote(base64.b64encode(url.encode()).decode(), safe="")
    if encoding == "base64url":
        return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    if encoding == "substitution":
        escaped = quote(url, safe="").replace("-", "%2D").replace("_", "%5F")
        return escaped.replace("%", "-").replace("-2F", "_")
    raise AssertionError(encoding)


ENCODINGS = ("percent", "percent2", "base64", "base64url", "substitution")


@st.composite
def unknown_gateways(draw: st.DrawFn) -> tuple[str, object]:
    """A wrap function of a gateway nobody described, and the host it reports."""
    host = draw(GATEWAY_HOSTS)
    param = draw(PARAMS)
    position = draw(st.sampled_from(["query-first", "query-last", "path", "path-plain"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    noise = draw(st.from_regex(r"[A-Za-z0-9]{4,16}", fullmatch=True))

    def wrap(url: str) -> str:
        encoded = _encode(url, encoding)
        if position == "query-first":
            return f"https://{host}/v1/click?{param}={encoded}&sig={noise}"
        if position == "query-last":
            return f"https://{host}/r?id={noise}&{param}={encoded}"
        if position == "path":
            return f"https://{host}/{noise}/{encoded}/{noise}"
        return f"https://{host}/{noise}/{url}"

    return host, wrap


@settings(max_examples=300, deadline=None)
@given(TENANTS, st.lists(unknown_gateways(), min_size=1, max_size=3))
def test_chains_of_unknown_gateways_unwrap(tenant: str, chain: list[tuple[str, object]]) -> None:
    url = ACCESS.format(tenant=tenant)
    wrapped = url
    for _host, wrap in chain:
        wrapped = wrap(wrapped)  # type: ignore[operator]
    result = unwrap(wrapped)
    assert result.url == url
    # Every wrapper is named by its host, outermost first (a plain URL in a path may carry the
    # inner wrappers along with it, so at least the outermost is named).
    assert result.wrappers[0].startswith(chain[-1][0] + " (")
    assert len(result.wrappers) >= 1


KNOWN = st.sampled_from(
    [
        lambda u: u,
        safe_links_wrap,
        proofpoint_v2_wrap,
        proofpoint_v3_wrap,
        avanan_wrap,
        bing_wrap,
        lambda u: safe_links_wrap(u, region="gcc02"),
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TENANTS, unknown_gateways(), KNOWN, st.sampled_from(["text", "href"]))
def test_invitations_behind_unknown_and_known_gateways_are_exact(  # type: ignore[no-untyped-def]
    tenant, gateway, known, placement
) -> None:
    """A whole invitation whose link went through a named gateway and an unknown one is
    registered with the exact client URL, the prefilter keeps it, and the reasons name both."""
    host, wrap = gateway
    link = wrap(known(ACCESS.format(tenant=tenant)))
    if placement == "href":
        raw = mailfactory.invitation(
            tenant=tenant, link1=f'<a href="{html.escape(link)}">{html.escape(link)}</a>'
        )
    else:
        raw = mailfactory.invitation(tenant=tenant, link1=html.escape(link))
    assert prefilter.message_could_be_invitation(raw)
    _message, decision = decide_bytes(raw)
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{tenant}"
    assert any(r.startswith(f"unwrapped: {host} (") for r in decision.reasons), decision.reasons


def test_each_encoding_is_named() -> None:
    url = ACCESS.format(tenant="contoso.onmicrosoft.com")
    assert decode_value(quote(url, safe="")) == (url, "percent-encoding")
    assert decode_value(quote(quote(url, safe=""), safe="")) == (url, "percent-encoding x2")
    padded = base64.b64encode(url.encode()).decode()
    assert decode_value(padded)[1].startswith("base64")  # type: ignore[index]
    unpadded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    assert decode_value(unpadded) == (url, "base64 without padding") or decode_value(unpadded) == (
        url,
        "base64url without padding",
    )
    assert decode_value(_encode(url, "substitution")) == (url, "Proofpoint-style substitution")


def test_microsoft_hosts_and_plain_links_are_not_unwrapped() -> None:
    """A sign-in link that carries a return URL is Microsoft's own, not a wrapper."""
    inner = quote(ACCESS.format(tenant="contoso.onmicrosoft.com"), safe="")
    assert unwrap_generic(f"https://login.microsoftonline.com/common?redirect_uri={inner}") is None
    assert unwrap_generic("https://www.example.com/about?lang=en&page=2") is None
    assert unwrap_generic("https://cdn.example.net/aHR0cHM6bm90IGEgVVJM") is None


def test_a_broken_payload_of_a_named_gateway_is_not_guessed() -> None:
    assert unwrap_generic("https://urldefense.com/v3/__https://a.example/*__;@@@!!x!y$") is None


def test_the_generic_net_never_follows_or_raises_on_garbage() -> None:
    for text in ("https://x.example/?u=%", "https://x.example/?u=aHR0c====", "https://[::1/x",
                 "https://x.example/?u=https-3A__", "https:///?u=aHR0cHM6Ly8"):  # fmt: skip
        unwrap(text)
