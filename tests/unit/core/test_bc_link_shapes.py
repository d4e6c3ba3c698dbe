"""The link shapes Business Central writes: environments are kept, extra parameters stay in the
access link only, host case is normalised, and what BC never writes is rejected with a reason."""

from __future__ import annotations

import pytest

from acchub_mailbot.app.pipeline import decide_bytes
from tests import mailfactory

TENANT = "contoso.onmicrosoft.com"


def _decide(link: str):  # type: ignore[no-untyped-def]
    _msg, decision = decide_bytes(mailfactory.invitation(tenant=TENANT, link1=link))
    return decision


@pytest.mark.parametrize("environment", ["Production", "Sandbox", "UAT-2", "Test_Env"])
def test_an_environment_segment_is_kept(environment: str) -> None:
    decision = _decide(
        f"https://businesscentral.dynamics.com/{TENANT}/{environment}?redirectedfromsignup=1"
    )
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{TENANT}/{environment}"


def test_extra_parameters_stay_in_the_access_link_only() -> None:
    link = (
        f"https://businesscentral.dynamics.com/{TENANT}/Production"
        "?company=CRONUS%20UK&redirectedfromsignup=1"
    )
    decision = _decide(link)
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{TENANT}/Production"
    assert decision.access_link == link


def test_host_case_is_normalised() -> None:
    decision = _decide(f"https://BusinessCentral.Dynamics.COM/{TENANT}?redirectedfromsignup=1")
    assert decision.verdict.value == "invitation", decision.reasons
    assert decision.client_url == f"https://businesscentral.dynamics.com/{TENANT}"


@pytest.mark.parametrize(
    ("link", "words"),
    [
        (
            f"https://businesscentral.dynamics.com./{TENANT}?redirectedfromsignup=1",
            "ends with a dot",
        ),
        (f"https://user@businesscentral.dynamics.com/{TENANT}?redirectedfromsignup=1", "user-info"),
        (f"https://businesscentral.dynamics.com:8443/{TENANT}?redirectedfromsignup=1", "port"),
        (f"http://businesscentral.dynamics.com/{TENANT}?redirectedfromsignup=1", "not https"),
        (f"https://businesscentral.dynamics.com/{TENANT}/Prod/x?redirectedfromsignup=1", "path"),
    ],
)
def test_what_business_central_never_writes_is_rejected(link: str, words: str) -> None:
    decision = _decide(link)
    assert decision.verdict.value == "rejected", decision.reasons
    assert decision.client_url is None
    assert any(words in reason for reason in decision.reasons), decision.reasons
