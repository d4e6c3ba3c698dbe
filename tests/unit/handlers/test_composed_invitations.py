"""Generated invitations and generated lies, through the whole detector (``inspect_bytes``).

Each example combines every axis of :mod:`tests.fuzz.composed` at once; a failure prints the
axes that made it. ``ACCHUB_FUZZ_SCALE`` scales the number of examples (``scripts/fuzz.sh``).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, note, settings

from acchub_mailbot.app.inspect import inspect_bytes
from tests.fuzz import examples
from tests.fuzz.composed import Composed, invitations, lookalikes

SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(case=invitations())
def test_every_composed_invitation_is_found_with_exact_fields(case: Composed) -> None:
    note(f"axes: {case.axes}")
    result = inspect_bytes(case.raw, "composed.eml")
    note(f"reasons: {result['reasons']}")
    assert {k: result[k] for k in case.expected} == case.expected


@SETTINGS
@given(case=lookalikes())
def test_every_lie_and_look_alike_is_rejected_with_a_reason(case: Composed) -> None:
    note(f"axes: {case.axes}")
    result = inspect_bytes(case.raw, "lookalike.eml")
    note(f"reasons: {result['reasons']}")
    assert result["verdict"] == "rejected"
    assert result["client_url"] is None
    assert any(r.startswith("rule failed") for r in result["reasons"])  # type: ignore[union-attr]
