"""Accept-Language negotiation for the dashboard's pages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acchub_mailbot.core.language import negotiate

AVAILABLE = ("en", "fr")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de-DE,de;q=0.9,fr;q=0.5", "fr"),  # German first, but there is no German catalog
        ("de, *;q=0.1", "en"),
        ("fr;q=0, en", "en"),  # q=0 refuses
        ("en;q=0.2, fr;q=0.7", "fr"),  # order by quality, not position
        ("FR_fr", "fr"),
        ("fr;q=abc, en;q=0.5", "en"),  # a broken q-value is not a preference
        ("x" * 100 + ",fr", "fr"),
    ],
)
def test_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header, AVAILABLE, "en") == expected


@given(st.text(max_size=200))
def test_any_header_gives_an_available_language(header: str) -> None:
    assert negotiate(header, AVAILABLE, "en") in AVAILABLE
