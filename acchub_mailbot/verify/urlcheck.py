"""The live "Test client URL" check: is a client URL a reachable Business Central tenant?

The URL comes from an email, so the check is built to be safe against server-side request
forgery and against slow or hostile servers:

* the offline rules (:mod:`acchub_mailbot.core.urlrules`) run first; a refused URL makes no
  traffic;
* every address a host resolves to must pass :mod:`acchub_mailbot.verify.netguard`, and the TCP
  connection goes to the address that was checked (no second DNS lookup that could be
  rebound), while TLS still verifies the certificate for the real host name (SNI included);
* redirects are followed by hand, one hop at a time, and only to Business Central hosts over
  https; a redirect to Microsoft sign-in ends the check as verified without contacting it;
* every socket operation has a timeout, the whole check has a deadline, and at most
  ``max_bytes`` of a body are read;
* nothing persists between checks (each check has its own connection pool and cookie jar),
  and the human-readable steps never show user-info, query strings or fragments, where
  tokens live.

Outcomes: ``verified``; ``unreachable`` for transient trouble worth retrying (timeouts, DNS
failure, refused or reset connections, 5xx, 429); ``failed`` for definitive answers (rule
failure, refused address, foreign or non-https redirect, too many redirects, certificate
error, 404/410). The decisions about a hop (:func:`classify_redirect`, :func:`classify_status`)
are pure functions in :mod:`acchub_mailbot.verify.verdicts`, the guarded connection is
:mod:`acchub_mailbot.verify.transport`, and :class:`LiveChecker` here is the thin shell that
takes the check's steps.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from acchub_mailbot import __version__
from acchub_mailbot.core.urlrules import check_client_url
from acchub_mailbot.verify.netguard import parse_networks
from acchub_mailbot.verify.transport import (
    AddressRefused,
    GuardedNetworkBackend,
    GuardedTransport,
    ResolutionFailed,
    Resolver,
    describe_error,
    system_resolver,
)
from acchub_mailbot.verify.verdicts import (
    SIGN_IN_HOSTS,
    Outcome,
    RedirectDecision,
    VerificationResult,
    classify_redirect,
    classify_status,
    conclude,
    display_url,
    format_result,
    status_reason,
)

__all__ = [
    "SIGN_IN_HOSTS",
    "AddressRefused",
    "GuardedNetworkBackend",
    "GuardedTransport",
    "LiveCheckSettings",
    "LiveChecker",
    "Outcome",
    "RedirectDecision",
    "ResolutionFailed",
    "Resolver",
    "VerificationResult",
    "classify_redirect",
    "classify_status",
    "display_url",
    "format_result",
    "system_resolver",
]

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
logger = logging.getLogger("acchub_mailbot.verify")


@dataclass(frozen=True)
class LiveCheckSettings:
    """Limits and trust settings of the live check.

    ``timeout_seconds`` bounds each socket operation (connect, TLS handshake, each read and
    write); ``deadline_seconds`` bounds the whole check, so a server dripping one byte at a
    time cannot hold it (DNS look-ups are bounded by the resolver, not by this deadline).
    ``allow_networks`` lists networks that are reachable despite
    :mod:`acchub_mailbot.verify.netguard` (for example ``"127.0.0.0/8"`` in tests). ``ca_file``
    replaces the default CA bundle. ``verify_tls=False`` is for diagnosis only.
    ``port_overrides`` is for tests only: it maps the URL's port (443) to the port actually
    connected to on the checked address, so a test server need not run on port 443.
    """

    timeout_seconds: float = 10.0
    max_bytes: int = 262144
    max_redirects: int = 8
    allow_networks: tuple[str, ...] = ()
    ca_file: str | None = None
    verify_tls: bool = True
    user_agent: str = f"acchub-mailbot/{__version__} (Test client URL)"
    deadline_seconds: float = 30.0
    port_overrides: Mapping[int, int] = field(default_factory=dict)


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind an httpx/httpcore error, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# ---------------------------------------------------------------------------------------------
# The shell


class LiveChecker:
    """Performs the live check; one instance can serve many checks, one after another.

    Each check uses its own connection pool and cookie jar, so nothing carries over from one
    client to the next. The instance is safe to share between threads for the same reason.
    """

    def __init__(self, settings: LiveCheckSettings, *, resolver: Resolver | None = None) -> None:
        self._settings = settings
        self._resolver = resolver or system_resolver
        self._allow = parse_networks(settings.allow_networks)
        self._ssl_context = _ssl_context(settings)
        self._closed = False

    def __enter__(self) -> LiveChecker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Refuse further checks; per-check connections are already closed when a check ends."""
        self._closed = True

    def check(self, url: str) -> VerificationResult:
        """Run the rules, then the guarded HTTPS probe, and say what was found."""
        if self._closed:
            raise RuntimeError("LiveChecker is closed")
        steps: list[str] = []
        rule = check_client_url(url, allow_environment=True)
        if not rule.ok or rule.client_url is None:
            steps.append(f"rules: refused: {rule.reason}")
            result = conclude(Outcome.FAILED, rule.reason, steps, None)
        else:
            steps.append(f"rules: {rule.client_url} is a Business Central client URL")
            result = self._probe(rule.client_url, steps)
        logger.info("Test client URL %s: %s (%s)", display_url(url), result.outcome, result.reason)
        return result

    def _probe(self, start_url: str, steps: list[str]) -> VerificationResult:
        settings = self._settings
        if not settings.verify_tls:
            steps.append("tls: certificate verification is disabled by the settings")
        backend = GuardedNetworkBackend(
            self._resolver,
            self._allow,
            port_overrides=settings.port_overrides,
            deadline=time.monotonic() + settings.deadline_seconds,
            log=steps,
        )
        client = httpx.Client(
            transport=GuardedTransport(backend, self._ssl_context),
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment, no .netrc credentials
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                # Compressed bodies could expand far past max_bytes once decoded.
                "Accept-Encoding": "identity",
            },
        )
        with client:
            return self._follow(client, start_url, steps)

    def _follow(self, client: httpx.Client, start_url: str, steps: list[str]) -> VerificationResult:
        current = start_url
        requested: set[str] = set()
        redirects = 0
        while True:
            requested.add(current)
            shown = display_url(current)
            try:
                request = client.build_request("GET", current)
            except (httpx.InvalidURL, ValueError) as exc:
                steps.append(f"GET {shown}: not a usable address ({exc})")
                return conclude(Outcome.FAILED, "a redirect to a malformed address", steps, shown)
            try:
                response = client.send(request, stream=True)
            except AddressRefused as exc:
                return conclude(Outcome.FAILED, f"address refused: {exc}", steps, shown)
            except ResolutionFailed as exc:
                return conclude(Outcome.UNREACHABLE, str(exc), steps, shown)
            except httpx.HTTPError as exc:
                return self._network_failure(exc, shown, steps)
            try:
                status, phrase = response.status_code, response.reason_phrase
                if status in (301, 302, 303, 307, 308):
                    decision = classify_redirect(current, response.headers.get("location"))
                    target = display_url(decision.url) if decision.url else "(refused)"
                    steps.append(f"GET {shown} -> {status} {phrase}, redirect to {target}")
                    if decision.action == "refuse":
                        return conclude(Outcome.FAILED, decision.reason, steps, shown)
                    assert decision.url is not None
                    if decision.action == "sign-in":
                        steps.append(f"{target} is Microsoft sign-in: not followed")
                        reason = "Business Central redirects to Microsoft sign-in"
                        return conclude(Outcome.VERIFIED, reason, steps, display_url(decision.url))
                    if decision.url in requested:
                        reason = f"a redirect loop back to {target}"
                        return conclude(Outcome.FAILED, reason, steps, shown)
                    redirects += 1
                    if redirects > self._settings.max_redirects:
                        reason = f"more than {self._settings.max_redirects} redirects"
                        return conclude(Outcome.FAILED, reason, steps, shown)
                    current = decision.url
                    continue
                outcome = classify_status(status)
                note = ""
                if outcome is Outcome.VERIFIED:
                    size, capped = self._read_capped(response)
                    note = f", read {size} bytes" + (" (stopped at the size cap)" if capped else "")
                steps.append(f"GET {shown} -> {status} {phrase}{note}")
                return conclude(outcome, status_reason(status, phrase), steps, shown)
            except httpx.HTTPError as exc:
                return self._network_failure(exc, shown, steps)
            finally:
                response.close()

    def _read_capped(self, response: httpx.Response) -> tuple[int, bool]:
        """Read the raw body up to ``max_bytes`` and no further; report whether it was cut."""
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size >= self._settings.max_bytes:
                return min(size, self._settings.max_bytes), True
        return size, False

    @staticmethod
    def _network_failure(exc: httpx.HTTPError, shown: str, steps: list[str]) -> VerificationResult:
        tls = _ssl_error_in(exc)
        if isinstance(tls, ssl.SSLCertVerificationError):
            detail = tls.verify_message or tls.reason or str(tls)
            steps.append(f"GET {shown}: TLS certificate error: {detail}")
            return conclude(Outcome.FAILED, f"TLS certificate error: {detail}", steps, shown)
        if tls is not None and not isinstance(tls, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            steps.append(f"GET {shown}: TLS handshake failed: {tls.reason or tls}")
            reason = f"TLS handshake failed: {tls.reason or tls}"
            return conclude(Outcome.FAILED, reason, steps, shown)
        if isinstance(exc, httpx.TimeoutException):
            what = "connection" if isinstance(exc, httpx.ConnectTimeout) else "response"
            steps.append(f"GET {shown}: timed out waiting for the {what}")
            return conclude(Outcome.UNREACHABLE, f"timed out waiting for the {what}", steps, shown)
        steps.append(f"GET {shown}: {describe_error(exc)}")
        return conclude(Outcome.UNREACHABLE, f"network error: {describe_error(exc)}", steps, shown)


def _ssl_context(settings: LiveCheckSettings) -> ssl.SSLContext:
    if not settings.verify_tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif settings.ca_file:
        context = ssl.create_default_context(cafile=settings.ca_file)
    else:
        context = httpx.create_ssl_context(verify=True, trust_env=False)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
