"""Log output: values from mail cannot forge lines, drive a terminal or reorder text."""

from __future__ import annotations

import pytest

from acchub_mailbot.logs import escape_controls, quoted


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\r\nFAKE log line", "a\\x0d\\x0aFAKE log line"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        ("\u2066isolate\u2069 \u200fmark", "\\u2066isolate\\u2069 \\u200fmark"),
        ("undecodable \udce2 byte", "undecodable \\udce2 byte"),
        ("Ærø & Søn <ok>", "Ærø & Søn <ok>"),
    ],
)
def test_controls_bidi_and_surrogates_are_escaped(value: str, shown: str) -> None:
    """Control, bidi and lone-surrogate characters become visible escapes; the rest is kept."""
    assert escape_controls(value) == shown


def test_quoted_is_one_bounded_line() -> None:
    """A quoted value is one line of at most the limit plus an ellipsis; None shows as -."""
    assert quoted(None) == "-"
    text = quoted("x\n" * 500, limit=50)
    assert "\n" not in text and len(text) == 51 and text.endswith("…")
