"""The pure decisions of the live check, and its network seam driven without a network."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpcore
import pytest

from acchub_mailbot import __version__
from acchub_mailbot.verify.urlcheck import (
    AddressRefused,
    GuardedNetworkBackend,
    LiveChecker,
    LiveCheckSettings,
    Outcome,
    ResolutionFailed,
    VerificationResult,
    classify_redirect,
    classify_status,
    display_url,
    format_result,
)

BC_URL = "https://businesscentral.dynamics.com/contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    ("location", "action", "url_or_reason"),
    [
        ("/contoso.onmicrosoft.com/Production", "follow", f"{BC_URL}/Production"),
        ("https://businesscentral.dynamics.com/x/y?z=1", "follow", None),
        ("https://BusinessCentral.Dynamics.com:443/x", "follow", None),
        ("https://contoso.financials.dynamics.com/", "follow", None),
        ("https://login.microsoftonline.com/common/oauth2/authorize?x=1", "sign-in", None),
        ("https://login.microsoft.com/", "sign-in", None),
        ("https://login.windows.net/common", "sign-in", None),
        ("https://login.live.com/login.srf", "sign-in", None),
        ("https://evil.example/", "refuse", "foreign host evil.example"),
        ("https://businesscentral.dynamics.com.evil.example/", "refuse", "foreign host"),
        ("https://login.microsoftonline.com.evil.example/", "refuse", "foreign host"),
        ("https://businesscentral.dynamics-tie.com/x", "refuse", "foreign host"),
        ("//evil.example/x", "refuse", "foreign host evil.example"),
        ("http://businesscentral.dynamics.com/x", "refuse", "non-https"),
        ("javascript:alert(1)", "refuse", "non-https"),
        ("https://user:pw@businesscentral.dynamics.com/x", "refuse", "user-info"),
        ("https://businesscentral.dynamics.com:8443/x", "refuse", "non-standard port"),
        ("https://businesscentral.dynamics.com:99999/x", "refuse", "invalid port"),
        ("https://127.0.0.1/x", "refuse", "foreign host 127.0.0.1"),
        ("https://evil.example\r\nX: y", "refuse", "malformed"),
        (None, "refuse", "without a Location"),
        ("", "refuse", "without a Location"),
    ],
)
def test_redirect_targets_are_classified(
    location: str | None, action: str, url_or_reason: str | None
) -> None:
    """Only https Business Central hosts are followed; Microsoft sign-in ends the check."""
    decision = classify_redirect(BC_URL, location)
    assert decision.action == action
    if action == "refuse":
        assert decision.url is None
        assert url_or_reason is not None and url_or_reason in decision.reason
    elif url_or_reason is not None:
        assert decision.url == url_or_reason


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.VERIFIED),
        (204, Outcome.VERIFIED),
        (404, Outcome.FAILED),
        (410, Outcome.FAILED),
        (400, Outcome.FAILED),
        (403, Outcome.FAILED),
        (408, Outcome.UNREACHABLE),
        (429, Outcome.UNREACHABLE),
        (500, Outcome.UNREACHABLE),
        (503, Outcome.UNREACHABLE),
    ],
)
def test_final_status_gives_the_outcome(status: int, outcome: Outcome) -> None:
    """2xx verifies, 404/410 and other 4xx fail, 408/429/5xx are transient."""
    assert classify_status(status) is outcome


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (BC_URL, BC_URL),
        (f"{BC_URL}?redirectedfromsignup=1#frag", f"{BC_URL}?…"),
        ("https://user:secret@host.example:8443/p?q=token", "https://host.example:8443/p?…"),
        ("https://[::1]/p", "https://[::1]/p"),
        ("https://h.example/" + "a" * 500, "https://h.example/" + "a" * 199 + "…"),
    ],
)
def test_display_url_drops_what_may_carry_secrets(url: str, shown: str) -> None:
    """User-info, query and fragment never reach logs or the digest."""
    assert display_url(url) == shown


def test_format_result_lists_outcome_reason_and_numbered_steps() -> None:
    """The CLI report shows every field and numbers the steps."""
    result = VerificationResult(
        outcome=Outcome.FAILED,
        reason="a redirect to a foreign host evil.example",
        checked=("rules: ok", "dns: x -> 1.2.3.4"),
        final_url=None,
        checked_at=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
    )
    assert format_result(result).splitlines() == [
        "Result:     failed",
        "Reason:     a redirect to a foreign host evil.example",
        "Final URL:  -",
        "Checked at: 2024-05-01T12:00:00+00:00",
        "Steps:",
        "  1. rules: ok",
        "  2. dns: x -> 1.2.3.4",
    ]


def test_default_user_agent_names_the_version() -> None:
    """Microsoft's logs can tell our probe apart from a browser."""
    assert LiveCheckSettings().user_agent == f"acchub-mailbot/{__version__} (Test client URL)"


class _Stream(httpcore.NetworkStream):
    def close(self) -> None:
        pass


class _RecordingBackend(httpcore.NetworkBackend):
    """Stands in for the socket layer: records where a connection would go."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.calls.append((host, port))
        return _Stream()


def test_backend_connects_to_port_443_of_the_checked_address_by_default() -> None:
    """The connection goes to the validated IP itself, on the URL's port, not to the name."""
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["13.107.246.45"]

    inner = _RecordingBackend()
    backend = GuardedNetworkBackend(resolver, inner=inner)
    backend.connect_tcp("businesscentral.dynamics.com", 443, timeout=1.0)
    assert asked == [("businesscentral.dynamics.com", 443)]
    assert inner.calls == [("13.107.246.45", 443)]
    assert backend.log == [
        "dns: businesscentral.dynamics.com -> 13.107.246.45 (all allowed)",
        "connect: 13.107.246.45 port 443",
    ]


def test_backend_refuses_before_connecting_when_any_address_is_refused() -> None:
    """A public first answer does not let a private second answer through."""
    inner = _RecordingBackend()
    backend = GuardedNetworkBackend(lambda h, p: ["13.107.246.45", "10.0.0.5"], inner=inner)
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.5 is in 10\.0\.0\.0/8"):
        backend.connect_tcp("businesscentral.dynamics.com", 443)
    assert inner.calls == []


def test_backend_reports_resolution_failure() -> None:
    """An empty DNS answer is a resolution failure, not an empty list of checks passed."""
    backend = GuardedNetworkBackend(lambda h, p: [], inner=_RecordingBackend())
    with pytest.raises(ResolutionFailed):
        backend.connect_tcp("businesscentral.dynamics.com", 443)


def test_backend_refuses_unix_sockets() -> None:
    """A client URL can never lead to a local unix socket."""
    backend = GuardedNetworkBackend(lambda h, p: [], inner=_RecordingBackend())
    with pytest.raises(AddressRefused):
        backend.connect_unix_socket("/run/docker.sock")


def test_rule_failure_needs_no_network() -> None:
    """An http:// link fails on the rules; the resolver is never consulted."""

    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("no lookup expected")

    with LiveChecker(LiveCheckSettings(), resolver=resolver) as checker:
        result = checker.check("http://businesscentral.dynamics.com/contoso.onmicrosoft.com")
    assert result.outcome is Outcome.FAILED
    assert result.reason.startswith("not https")
    assert result.final_url is None


def test_closed_checker_refuses_to_check() -> None:
    """Using a checker after close() is a programming error, reported loudly."""
    checker = LiveChecker(LiveCheckSettings())
    checker.close()
    with pytest.raises(RuntimeError):
        checker.check(BC_URL)


def test_invalid_allow_list_is_reported_when_building_the_checker() -> None:
    """A bad ``allow_networks`` entry fails at start-up, not on the first email."""
    with pytest.raises(ValueError, match="not an IP network"):
        LiveChecker(LiveCheckSettings(allow_networks=("localhost",)))


def test_disabled_tls_verification_is_visible_in_the_steps() -> None:
    """Turning verification off is never silent."""
    settings = LiveCheckSettings(verify_tls=False)

    def resolver(host: str, port: int) -> list[str]:
        return ["10.0.0.5"]

    with LiveChecker(settings, resolver=resolver) as checker:
        result = checker.check(BC_URL)
    assert result.checked[1] == "tls: certificate verification is disabled by the settings"
    assert result.outcome is Outcome.FAILED
