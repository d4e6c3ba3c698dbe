"""Fuzzing the detector: generated and mutated mail always gets a verdict, within the limits.

Together these tests run 10,000 generated messages in CI (``ACCHUB_FUZZ_SCALE`` multiplies that;
``scripts/fuzz.sh`` runs a longer session and saves any crashing input under
``tests/fuzz/regressions/``, which :func:`test_saved_regressions_get_a_verdict` replays).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from acchub_mailbot.app.inspect import INSPECT_KEYS, inspect_bytes
from acchub_mailbot.app.pipeline import decide_bytes
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.messages import Message, parse_message
from acchub_mailbot.handlers.base import Decision, Verdict
from tests import fuzz
from tests.fuzz import REGRESSIONS, examples, message_tree, mutated_corpus, mutated_invitation
from tests.fuzz import saving_crashes as _saving

VERDICTS = {v.value for v in Verdict}
#: Small limits, so that generated mail actually runs into them.
TIGHT = Limits(
    max_message_bytes=4096,
    max_mime_depth=3,
    max_parts=8,
    max_rfc822_depth=1,
    max_html_bytes=1024,
    max_text_bytes=1024,
)

#: No deadline: a slow example on a busy CI machine is not a failure (no timing assertions).
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _all_parts(message: Message) -> int:
    return len(message.part_types) + sum(_all_parts(m) for m in message.attached)


def _depth(message: Message) -> int:
    return 1 + max((_depth(m) for m in message.attached), default=0)


def check_bounded(message: Message, limits: Limits) -> None:
    """The parsed message respects every limit, whatever the input was."""
    # Bodies are joined with one newline per part, hence the max_parts allowance.
    assert len(message.html) <= limits.max_html_bytes + limits.max_parts
    assert len(message.text) <= limits.max_text_bytes + limits.max_parts
    assert _all_parts(message) <= limits.max_parts
    assert _depth(message) <= limits.max_rfc822_depth + 1
    if message.limit_hit is not None:
        exceeded = message.limit_exceeded
        assert exceeded is not None and exceeded.limit == message.limit_hit


def check_verdict(raw: bytes, name: str) -> tuple[Message, Decision]:
    """Both entry points answer with a verdict and never raise."""
    with _saving(raw, name):
        result = inspect_bytes(raw, "fuzz.eml")
        assert tuple(result) == INSPECT_KEYS
        assert result["verdict"] in VERDICTS
        assert all(isinstance(r, str) for r in result["reasons"])  # type: ignore[attr-defined]
        message, decision = decide_bytes(raw)
        assert isinstance(decision, Decision) and decision.verdict in Verdict
        check_bounded(message, Limits())
    return message, decision


def record(message: Message, decision: Decision) -> None:
    """Shown by --hypothesis-show-statistics: how much of the input reached each outcome."""
    event(f"verdict: {decision.verdict.value}")
    event(f"limit hit: {message.limit_hit}")


@settings(FUZZ, max_examples=examples(4000))
@given(raw=mutated_corpus())
def test_mutated_corpus_always_gets_a_verdict(raw: bytes) -> None:
    """Corpus invitations with flipped, inserted, deleted and spliced bytes get a verdict."""
    record(*check_verdict(raw, "corpus"))


@settings(FUZZ, max_examples=examples(3000))
@given(raw=message_tree())
def test_generated_mime_trees_always_get_a_verdict(raw: bytes) -> None:
    """Arbitrary MIME trees, charsets, encodings and encoded-word headers get a verdict."""
    record(*check_verdict(raw, "tree"))


@settings(FUZZ, max_examples=examples(2000))
@given(raw=mutated_invitation())
def test_mutated_invitations_always_get_a_verdict(raw: bytes) -> None:
    """Invitations with hostile headers, names and HTML fragments get a verdict."""
    record(*check_verdict(raw, "invitation"))


@settings(FUZZ, max_examples=examples(1000))
@given(raw=st.one_of(message_tree(), mutated_corpus()))
def test_tight_limits_hold_on_generated_mail(raw: bytes) -> None:
    """With small limits, parsing stops or truncates at them and says which one it hit."""
    with _saving(raw, "tight"):
        message = parse_message(raw, limits=TIGHT)
        check_bounded(message, TIGHT)
    event(f"limit hit: {message.limit_hit}")


def _regressions() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.eml"))


@pytest.mark.parametrize("path", _regressions(), ids=lambda p: p.name)
def test_saved_regressions_get_a_verdict(path: Path) -> None:
    """Every input a fuzz run once crashed on (tests/fuzz/regressions) now gets a verdict."""
    raw = path.read_bytes()
    check_verdict(raw, "replay")
    check_bounded(parse_message(raw, limits=TIGHT), TIGHT)


def test_a_crash_keeps_its_smallest_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ACCHUB_FUZZ_SAVE=1 each distinct crash keeps its smallest input as a regression."""
    monkeypatch.setattr(fuzz, "REGRESSIONS", tmp_path)
    monkeypatch.setenv("ACCHUB_FUZZ_SAVE", "1")
    for raw in (b"a longer crashing input", b"short", b"the longest crashing input of all"):
        with pytest.raises(ZeroDivisionError), fuzz.saving_crashes(raw, "demo"):
            _ = 1 / 0
    saved = list(tmp_path.glob("demo-*.eml"))
    assert [p.read_bytes() for p in saved] == [b"short"]
