"""What a link means for invitation detection, and the facts the invitation carries.

A link is classified by its *shape* (research notes, section 9): the Business Central access link
(``/<tenant>?redirectedfromsignup=1``), the legacy Financials host, the Accountant Hub add-client
link, a suspect that imitates one of those but fails the offline URL rules, or unrelated. The hub
link's filter holds the client link and the tenant display name in .NET ``UrlEncode`` form. The
company name otherwise comes from the welcome text's last line, found structurally because the
fixed sentence before the link is translated.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from acchub_mailbot.core.urlrules import (
    ACCOUNTANT_HUB_HOST,
    BUSINESS_CENTRAL_HOST,
    FINANCIALS_SUFFIX,
    TEST_HOST_MARKERS,
    RuleResult,
    check_client_url,
    classify_host,
    is_accountant_hub_link,
    normalize_host,
)

#: Microsoft's own domains: links there (marketing, docs, sign-in, APIs) are never client links.
MICROSOFT_DOMAINS = (
    "microsoft.com",
    "microsoftonline.com",
    "dynamics.com",
    "office.com",
    "office.net",
    "office365.com",
    "outlook.com",
    "live.com",
    "aka.ms",
    "azure.com",
    "windows.net",
    "sharepoint.com",
    "msauth.net",
    "msftauth.net",
    "microsoft365.com",
    "bing.com",
)
#: Names an imitation of a Business Central or Accountant Hub host contains once dots and
#: hyphens are removed.
IMITATED = ("businesscentral", "financialsdynamics", "accountantsdynamics", "dynamics365")
#: Latin look-alikes of Cyrillic and Greek letters seen in homoglyph domains.
_CONFUSABLES = str.maketrans(
    "аеорсхуіјѕԁӏɑοντκмнвт",
    "aeopcxyijsdlaovtkmhbt",
)

_Q = r"(?:'|%27)"
#: Between the filter's words: BC writes one space; a hard wrap that broke the line there and
#: was joined again leaves none.
_S = r"(?: |%20|\+)*"
_HUB_FILTER = re.compile(
    rf"Customer\.{_Q}Client{_S}Link{_Q}{_S}IS{_S}{_Q}{{3}}(?P<link>.*?){_Q}{{3}}"
    rf"{_S}AND{_S}Customer\.Name{_S}IS{_S}{_Q}{{3}}(?P<name>.*?){_Q}{{3}}(?:&|$)",
    re.IGNORECASE | re.DOTALL,
)


class Kind(StrEnum):
    """What a link is to the invitation detector."""

    ACCESS = "access"
    HUB = "hub"
    SUSPECT = "suspect"
    UNRELATED = "unrelated"


@dataclass(frozen=True)
class Classified:
    """A classified URL. ``shape`` describes a good link for reasons; ``reason`` says why a
    suspect fails; ``rule`` is the URL-rules result for access links."""

    kind: Kind
    url: str
    shape: str = ""
    reason: str = ""
    rule: RuleResult | None = None


@dataclass(frozen=True)
class HubLink:
    """The Accountant Hub add-client link. ``link`` is as BC wrote it (raw spaces and quotes);
    ``client_link`` and ``name`` are the filter values, .NET-URL-decoded."""

    link: str
    client_link: str
    name: str


def _split(url: str) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        parts = urlsplit(url.strip())
        host = normalize_host(parts.hostname or "")
    except ValueError:
        return None
    query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    return parts.scheme.lower(), host, parts.path, query


_MICROSOFT_DOMAIN_SET = frozenset(MICROSOFT_DOMAINS)


def is_microsoft_host(host: str) -> bool:
    """A host under one of Microsoft's own registered domains."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in _MICROSOFT_DOMAIN_SET for i in range(len(labels)))


def imitates_microsoft(host: str) -> bool:
    """True when ``host`` is dressed up as a Business Central / Accountant Hub host."""
    if any(marker in host for marker in TEST_HOST_MARKERS):
        return True
    candidates = [host]
    if "xn--" in host:
        with contextlib.suppress(UnicodeError):
            candidates.append(host.encode("ascii").decode("idna"))
    for candidate in candidates:
        skeleton = unicodedata.normalize("NFKD", candidate.translate(_CONFUSABLES))
        skeleton = "".join(c for c in skeleton if c.isascii())
        squashed = skeleton.replace("-", "").replace(".", "")
        if any(name in squashed for name in IMITATED):
            return True
        if any(_close(label, "businesscentral") for label in re.split(r"[.-]", skeleton)):
            return True
    return False


def _close(label: str, name: str) -> bool:
    if label == name or abs(len(label) - len(name)) > 2:
        return False
    previous = list(range(len(name) + 1))
    for i, ca in enumerate(label, 1):
        current = [i]
        for j, cb in enumerate(name, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 2


def _hub_shaped(host: str, query: dict[str, str]) -> bool:
    if "filter" in query and "client link" in query["filter"].lower().replace("%20", " "):
        return True
    return "accountants" in host.replace("-", "") and ("page" in query or "filter" in query)


def _hub_reason(url: str, scheme: str, host: str, path: str, query: dict[str, str]) -> str | None:
    """Why a hub-shaped link is not the genuine add-client link, or ``None`` when it is."""
    encoded = url.strip().replace(" ", "%20").replace("'", "%27")
    if is_accountant_hub_link(encoded):
        return None
    if scheme != "https":
        return f"not https ({scheme or 'no scheme'}://): only https links are accepted"
    netloc = urlsplit(url.strip()).netloc
    if "@" in netloc:
        return "the link carries user-info before the host (user@host), a phishing trick"
    if ":" in netloc.split("@")[-1].strip("[]"):
        return "the link names an explicit port; Accountant Hub links never do"
    if host != ACCOUNTANT_HUB_HOST:
        problem = classify_host(host)
        return problem or f"host {host} is not the Accountant Hub host"
    if path not in ("", "/"):
        return "the Accountant Hub link has an unexpected path"
    return "the Accountant Hub link does not open page 21"


def classify(url: str) -> Classified:
    """Classify one (already unwrapped) URL by its shape."""
    split = _split(url)
    if split is None:
        return Classified(Kind.UNRELATED, url)
    scheme, host, path, query = split
    if "redirectedfromsignup" in query:
        rule = check_client_url(url, allow_environment=True)
        if not rule.ok:
            return Classified(Kind.SUSPECT, url, reason=rule.reason, rule=rule)
        shape = (
            "businesscentral.dynamics.com tenant link"
            if rule.host == BUSINESS_CENTRAL_HOST
            else "legacy financials.dynamics.com link"
        )
        return Classified(Kind.ACCESS, url, shape=shape, rule=rule)
    if _hub_shaped(host, query):
        problem = _hub_reason(url, scheme, host, path, query)
        if problem:
            return Classified(Kind.SUSPECT, url, reason=problem)
        return Classified(Kind.HUB, url, shape="accountant hub add-client link")
    legacy = host.endswith(FINANCIALS_SUFFIX) or "financials.dynamics" in host
    if legacy and path in ("", "/") and not query:
        rule = check_client_url(url)
        if rule.ok:
            return Classified(
                Kind.ACCESS, url, shape="legacy financials.dynamics.com link", rule=rule
            )
        return Classified(Kind.SUSPECT, url, reason=rule.reason, rule=rule)
    if is_microsoft_host(host):
        return Classified(Kind.UNRELATED, url)
    if scheme in ("http", "https") and imitates_microsoft(host):
        rule = check_client_url(url)
        return Classified(Kind.SUSPECT, url, reason=rule.reason or "imitates a Microsoft host")
    return Classified(Kind.UNRELATED, url)


def dotnet_url_decode(value: str) -> str:
    """Undo .NET ``HttpUtility.UrlEncode``: ``+`` is a space, ``%xx`` (any case) a byte."""
    return unquote_plus(value)


def parse_hub_link(url: str) -> HubLink | None:
    """Read the filter of an add-client link; the link is given back in BC's own raw form."""
    match = _HUB_FILTER.search(url)
    if not match:
        return None
    link = url.strip()
    canonical = (
        "Customer.'Client Link' IS '''"
        + match.group("link")
        + "''' AND Customer.Name IS '''"
        + match.group("name")
        + "'''"
    )
    start = link.lower().find("filter=")
    if canonical not in link and start >= 0:
        # A mail client or wrapper re-encoded the structure (%20, %27), or a hard wrap took a
        # space out: restore BC's raw form.
        link = link[: start + len("filter=")] + canonical
    return HubLink(
        link=link,
        client_link=dotnet_url_decode(match.group("link")).strip(),
        name=" ".join(dotnet_url_decode(match.group("name")).split()),
    )


__all__ = [
    "Classified",
    "HubLink",
    "Kind",
    "classify",
    "dotnet_url_decode",
    "imitates_microsoft",
    "is_microsoft_host",
    "parse_hub_link",
]
