"""Properties of unwrapping: every wrap is reversed exactly, and nothing makes unwrap raise."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from acchub_mailbot.core.links import (
    links_from_html,
    links_from_text,
    proofpoint_v1_wrap,
    proofpoint_v2_wrap,
    proofpoint_v3_wrap,
    safe_links_wrap,
    unwrap,
)

WRAPS: dict[str, Callable[[str], str]] = {
    "safelinks": safe_links_wrap,
    "proofpoint-v1": proofpoint_v1_wrap,
    "proofpoint-v2": proofpoint_v2_wrap,
    "proofpoint-v3": proofpoint_v3_wrap,
}

#: Any text without lone surrogates (which cannot be percent-encoded as UTF-8).
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,20}\.(example|test|com|onmicrosoft\.com)", fullmatch=True)


@st.composite
def urls(draw: st.DrawFn) -> str:
    """URLs with arbitrary paths and queries, including spaces, quotes, %, * and non-ASCII."""
    scheme = draw(st.sampled_from(["https", "http"]))
    return f"{scheme}://{draw(_HOST)}/{draw(_TEXT)}"


@given(url=urls(), name=st.sampled_from(sorted(WRAPS)))
def test_wrap_then_unwrap_is_identity(url: str, name: str) -> None:
    """Each gateway's wrap is undone exactly, and the wrapper is named."""
    result = unwrap(WRAPS[name](url))
    assert result.url == url
    assert result.wrappers == (name,)


@given(url=urls(), chain=st.lists(st.sampled_from(sorted(WRAPS)), min_size=1, max_size=4))
def test_chains_of_wrappers_are_undone(url: str, chain: list[str]) -> None:
    """Wrappers applied in any order and number (up to the depth limit) are all undone."""
    wrapped = url
    for name in chain:
        wrapped = WRAPS[name](wrapped)
    result = unwrap(wrapped)
    assert result.url == url
    assert result.wrappers == tuple(reversed(chain))


@settings(max_examples=300)
@given(text=st.text(max_size=300))
def test_unwrap_never_raises(text: str) -> None:
    """Arbitrary text, including wrapper-looking prefixes, is handled without an exception."""
    for prefix in (
        "",
        "https://urldefense.com/v3/__",
        "https://urldefense.proofpoint.com/v2/url?u=",
    ):
        assert isinstance(unwrap(prefix + text).url, str)
    assert isinstance(
        unwrap("https://eur01.safelinks.protection.outlook.com/?url=" + text).url, str
    )


@given(text=st.text(max_size=300))
def test_extraction_never_raises(text: str) -> None:
    """Link extraction accepts any text and any would-be HTML."""
    links_from_text(text)
    links_from_html(text)
