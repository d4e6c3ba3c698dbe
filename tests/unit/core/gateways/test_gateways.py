"""The gateway registry: every family is listed once, and each wrap is undone by ``unwrap``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core import links
from acchub_mailbot.core.gateways import GATEWAYS, mimecast, proofpoint, safelinks

URL = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com/Production?company=A%20B"

WRAPS: dict[str, Callable[[str], str]] = {
    "safelinks": safelinks.safe_links_wrap,
    "proofpoint-v1": proofpoint.proofpoint_v1_wrap,
    "proofpoint-v2": proofpoint.proofpoint_v2_wrap,
    "proofpoint-v3": proofpoint.proofpoint_v3_wrap,
}


def test_every_family_is_listed_once() -> None:
    families = [g.family for g in GATEWAYS]
    assert len(families) == len(set(families))
    assert {"safelinks", "proofpoint", "mimecast"} <= set(families)


@pytest.mark.parametrize("name", sorted(WRAPS))
def test_each_wrap_is_undone_and_named(name: str) -> None:
    result = links.unwrap(WRAPS[name](URL))
    assert result.url == URL
    assert result.wrappers == (name,)
    assert not result.opaque


@given(st.lists(st.sampled_from(sorted(WRAPS)), min_size=1, max_size=4))
def test_chains_of_any_wrappers_unwrap_outermost_first(chain: list[str]) -> None:
    wrapped = URL
    for name in chain:
        wrapped = WRAPS[name](wrapped)
    result = links.unwrap(wrapped)
    assert result.url == URL
    assert result.wrappers == tuple(reversed(chain))


def test_an_opaque_gateway_is_marked_and_left_alone() -> None:
    wrapped = mimecast.mimecast_wrap(URL)
    result = links.unwrap(safelinks.safe_links_wrap(wrapped))
    assert result.url == wrapped
    assert result.wrappers == ("safelinks",)
    assert result.opaque
    assert mimecast.mimecast_domain(wrapped) == "businesscentral.dynamics.com"


def test_a_gateway_step_on_a_foreign_link_does_nothing() -> None:
    for gateway in GATEWAYS:
        assert gateway.unwrap(URL) is None
        assert not gateway.opaque(URL)


def test_proofpoint_v3_wrapped_by_proofpoint_v3_unwraps_whole() -> None:
    """A forward between two Proofpoint customers: the outer URL part runs to the last ``__;``."""
    inner = "https://urldefense.com/v3/__https://businesscentral.dynamics.com/a.onmicrosoft.com?redirectedfromsignup=1__;!!AbC12!Xy_z-9$"
    outer = proofpoint.proofpoint_v3_wrap(inner)
    result = links.unwrap(outer)
    assert (
        result.url
        == "https://businesscentral.dynamics.com/a.onmicrosoft.com?redirectedfromsignup=1"
    )
    assert result.wrappers == ("proofpoint-v3", "proofpoint-v3")
