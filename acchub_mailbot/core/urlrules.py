"""Offline rules for Business Central URLs: which hosts are legitimate, and the normal form.

These decide, without any network traffic, whether a URL found in an email may become a client
URL. They are deliberately strict: the host must be exactly a production Business Central host
(compared after IDNA normalization and lower-casing), over https, with no user-info, no port and
no IP literal. Everything else is refused with a reason that names the problem, because that
reason is shown to the accountant in the digest.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlsplit

BUSINESS_CENTRAL_HOST = "businesscentral.dynamics.com"
FINANCIALS_SUFFIX = ".financials.dynamics.com"
ACCOUNTANT_HUB_HOST = "accountants.dynamics.com"

#: Microsoft's own pre-production and test environments: real Microsoft hosts, never a client.
TEST_HOST_MARKERS = (
    "dynamics-tie.com",
    "dynamics-ppe.com",
    "dynamics-servicestie.com",
    "projectmadeira-test",
    "projectmadeira-ppe",
    "officeppe.com",
    "office-int.com",
)

#: Names a look-alike tries to imitate; used only to word the rejection reason.
IMITATED_NAMES = ("businesscentral", "dynamics", "financials", "accountants", "microsoft")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$"
)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$")


@dataclass(frozen=True)
class RuleResult:
    """``ok`` with the normalized client URL and tenant, or not ``ok`` with a reason."""

    ok: bool
    reason: str = ""
    client_url: str | None = None
    tenant: str | None = None
    host: str | None = None


def normalize_host(host: str) -> str:
    """Lower-case and IDNA-encode a host so that homoglyphs cannot pass as ASCII names."""
    host = unicodedata.normalize("NFKC", host).strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _is_ip_literal(host: str) -> bool:
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        # Forms such as 0x7f.1 or 2130706433 are IP addresses to most resolvers.
        return bool(re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", candidate))
    return True


def _lookalike_reason(host: str) -> str:
    if host.endswith(("." + BUSINESS_CENTRAL_HOST, FINANCIALS_SUFFIX)) is False and any(
        legit in host for legit in (BUSINESS_CENTRAL_HOST, "financials.dynamics.com")
    ):
        return f"look-alike host {host}: a legitimate name is used as part of a foreign domain"
    if "xn--" in host:
        return (
            f"look-alike host {host}: internationalized (punycode) name imitating a Microsoft host"
        )
    squashed = host.replace("-", "").replace(".", "")
    for name in IMITATED_NAMES:
        if name in squashed or _near(name, host):
            return f"look-alike host {host}: imitates a Microsoft Business Central host"
    return f"host {host} is not a Business Central host"


def _near(name: str, host: str) -> bool:
    """True when some label of ``host`` is one edit away from ``name`` (dynamlcs, rnicrosoft)."""
    for label in re.split(r"[.-]", host):
        if abs(len(label) - len(name)) <= 1 and _edit_distance(label, name) <= 2 and label != name:
            return True
    return False


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _common_checks(parts: SplitResult, raw: str) -> str | None:
    if parts.scheme.lower() != "https":
        return f"not https ({parts.scheme or 'no scheme'}://): only https links are accepted"
    if "@" in parts.netloc:
        return "the link carries user-info before the host (user@host), a phishing trick"
    try:
        port = parts.port
    except ValueError:
        return "the link has an invalid port"
    if port is not None or parts.netloc.rstrip("]").count(":") > (2 if "[" in parts.netloc else 0):
        return f"the link names an explicit port ({port}); Business Central links never do"
    host = parts.hostname or ""
    if not host:
        return "the link has no host"
    if host.endswith("."):
        return (
            f"the host {host} ends with a dot; Business Central links never do, and the dot "
            "makes the name bypass checks that compare host names"
        )
    if _is_ip_literal(host):
        return f"the link points at an IP address ({host}) instead of a Microsoft host"
    if any(ch.isspace() or ord(ch) < 32 for ch in raw):
        return "the link contains spaces or control characters"
    return None


def classify_host(host: str) -> str | None:
    """``None`` when ``host`` (already normalized) is a production client host, else a reason."""
    if any(marker in host for marker in TEST_HOST_MARKERS):
        return f"host {host} is a Microsoft test environment, not a client's production tenant"
    if host == BUSINESS_CENTRAL_HOST:
        return None
    if host.endswith(FINANCIALS_SUFFIX):
        label = host[: -len(FINANCIALS_SUFFIX)]
        if _LABEL.fullmatch(label) and not label.startswith("xn--"):
            return None
        return f"host {host} is not a single-label Financials host"
    return _lookalike_reason(host)


def _tenant_of(segment: str) -> str | None:
    if _GUID.fullmatch(segment):
        return segment.lower()
    if _DOMAIN.fullmatch(segment):
        return segment.lower()
    return None


def check_client_url(url: str, *, allow_environment: bool = False) -> RuleResult:
    """Apply the offline rules to a client/access link and return its normal form.

    Accepted: ``https://businesscentral.dynamics.com/<tenant>`` (tenant: a domain or a GUID;
    with ``allow_environment`` also ``/<tenant>/<environment>``), and the legacy
    ``https://<name>.financials.dynamics.com``. Query and fragment are dropped from the normal
    form; the tenant is lower-cased because tenant names and GUIDs are case-insensitive.
    """
    raw = url.strip()
    parts = urlsplit(raw)
    problem = _common_checks(parts, raw)
    if problem:
        return RuleResult(False, problem)
    host = normalize_host(parts.hostname or "")
    problem = classify_host(host)
    if problem:
        return RuleResult(False, problem, host=host)
    segments = [s for s in parts.path.split("/") if s]
    if host == BUSINESS_CENTRAL_HOST:
        if not segments:
            return RuleResult(False, "the link names no tenant (domain or GUID)", host=host)
        tenant = _tenant_of(segments[0])
        if tenant is None:
            return RuleResult(
                False, f"'{segments[0]}' is neither a tenant domain nor a GUID", host=host
            )
        if len(segments) == 1:
            return RuleResult(True, client_url=f"https://{host}/{tenant}", tenant=tenant, host=host)
        if allow_environment and len(segments) == 2 and _ENVIRONMENT.fullmatch(segments[1]):
            return RuleResult(
                True, client_url=f"https://{host}/{tenant}/{segments[1]}", tenant=tenant, host=host
            )
        return RuleResult(False, "the link has extra path segments after the tenant", host=host)
    # Legacy Financials host: the tenant is the host itself; a path is not part of the client URL.
    if segments and not allow_environment:
        return RuleResult(True, client_url=f"https://{host}", tenant=host, host=host)
    return RuleResult(True, client_url=f"https://{host}", tenant=host, host=host)


def normalize_client_url(url: str) -> str | None:
    """The normal form of a client URL, or ``None`` when the rules refuse it."""
    result = check_client_url(url, allow_environment=True)
    return result.client_url if result.ok else None


def is_accountant_hub_link(url: str) -> bool:
    """True for ``https://accountants.dynamics.com/?page=21...`` (the add-client link).

    Business Central writes this link with raw spaces and single quotes in its filter, so only
    the part before the query is held to the strict rules; the query is only read.
    """
    raw = url.strip()
    base, _, query = raw.partition("?")
    parts = urlsplit(base)
    if _common_checks(parts, base) is not None:
        return False
    if normalize_host(parts.hostname or "") != ACCOUNTANT_HUB_HOST or parts.path not in ("", "/"):
        return False
    if any(ord(ch) < 32 for ch in query):
        return False
    params = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    return params.get("page") == "21"
