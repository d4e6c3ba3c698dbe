"""What a live check concludes, and how it is worded.

The outcomes, the result with its human-readable steps, and the pure decisions about one hop of
the check (where a redirect may lead, what a final status means, how a URL is shown without the
parts where tokens live). Nothing here does I/O; :mod:`acchub_mailbot.verify.urlcheck` performs
the check and :mod:`acchub_mailbot.verify.transport` carries its traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urljoin, urlsplit

from acchub_mailbot.core.urlrules import classify_host, normalize_host

#: Where Business Central sends a visitor who is not signed in; reaching one ends the check.
SIGN_IN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.live.com",
    }
)

_MAX_SHOWN_PATH = 200


class Outcome(StrEnum):
    """What the live check concluded about a client URL."""

    VERIFIED = "verified"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass(frozen=True)
class VerificationResult:
    """The outcome, its reason, and one human line per step taken (rules, DNS, each hop).

    ``final_url`` is the last URL requested or reached (the sign-in URL when the check ended
    there), shown without user-info, query or fragment; ``None`` when the rules refused the
    URL. ``checked_at`` is in UTC.
    """

    outcome: Outcome
    reason: str
    checked: tuple[str, ...]
    final_url: str | None
    checked_at: datetime


def display_url(url: str) -> str:
    """``url`` without user-info, query and fragment: safe to log and show in a digest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path
    if len(path) > _MAX_SHOWN_PATH:
        # A hostile Location header must not flood the log or the digest.
        path = path[:_MAX_SHOWN_PATH] + "…"
    suffix = "?…" if parts.query else ""
    return f"{parts.scheme}://{netloc}{path}{suffix}"


@dataclass(frozen=True)
class RedirectDecision:
    """Where a redirect leads: ``follow`` a Business Central URL, ``sign-in``, or ``refuse``."""

    action: str
    url: str | None = None
    reason: str = ""


def classify_redirect(current_url: str, location: str | None) -> RedirectDecision:
    """Decide whether the ``Location`` of a redirect from ``current_url`` may be followed."""
    if not location:
        return RedirectDecision("refuse", reason="a redirect without a Location header")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in location.strip()):
        return RedirectDecision("refuse", reason="a redirect to a malformed address")
    target = urljoin(current_url, location.strip())
    parts = urlsplit(target)
    shown = display_url(target)
    if parts.scheme.lower() != "https":
        return RedirectDecision(
            "refuse", reason=f"a redirect to a non-https address ({parts.scheme or 'none'}://)"
        )
    if "@" in parts.netloc:
        return RedirectDecision("refuse", reason="a redirect carrying user-info (user@host)")
    try:
        port = parts.port
    except ValueError:
        return RedirectDecision("refuse", reason="a redirect with an invalid port")
    host = normalize_host(parts.hostname or "")
    if port not in (None, 443):
        return RedirectDecision("refuse", reason=f"a redirect to a non-standard port ({shown})")
    if host in SIGN_IN_HOSTS:
        return RedirectDecision("sign-in", url=target)
    if host and classify_host(host) is None:
        return RedirectDecision("follow", url=target)
    return RedirectDecision("refuse", reason=f"a redirect to a foreign host {host or '(none)'}")


def classify_status(status: int) -> Outcome:
    """The outcome a final (non-redirect) status gives on a Business Central host."""
    if 200 <= status < 300:
        return Outcome.VERIFIED
    if status in (408, 429) or status >= 500:
        return Outcome.UNREACHABLE
    return Outcome.FAILED


def status_reason(status: int, phrase: str) -> str:
    """The reason given for a final status, in the words the digest and the CLI show."""
    if status in (404, 410):
        return f"Business Central answered HTTP {status} {phrase}: the tenant was not found"
    if status == 429:
        return "Business Central answered HTTP 429 (too many requests): try again later"
    if status >= 500:
        return f"Business Central answered HTTP {status} {phrase}: a server-side problem"
    if status == 408:
        return "Business Central answered HTTP 408 (request timeout)"
    if 200 <= status < 300:
        return f"Business Central answered HTTP {status} {phrase}"
    return f"Business Central refused the request with HTTP {status} {phrase}"


def conclude(
    outcome: Outcome, reason: str, steps: list[str], final_url: str | None
) -> VerificationResult:
    """The result of a check that ends now, with the steps taken so far."""
    return VerificationResult(
        outcome=outcome,
        reason=reason,
        checked=tuple(steps),
        final_url=final_url,
        checked_at=datetime.now(UTC),
    )


def format_result(result: VerificationResult) -> str:
    """A multi-line report of a check, as ``clients test-url`` prints it."""
    lines = [
        f"Result:     {result.outcome.value}",
        f"Reason:     {result.reason}",
        f"Final URL:  {result.final_url or '-'}",
        f"Checked at: {result.checked_at.isoformat(timespec='seconds')}",
        "Steps:",
    ]
    lines.extend(f"  {number}. {step}" for number, step in enumerate(result.checked, 1))
    return "\n".join(lines)
