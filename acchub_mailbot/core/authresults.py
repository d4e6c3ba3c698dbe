"""Does the receiving server vouch for a sender's domain? ``Authentication-Results`` (RFC 8601).

A shared firm mailbox registers clients from forwards, and anyone can write to it with a forged
``From:``. The receiving server checks SPF, DKIM and DMARC and writes the results into
``Authentication-Results`` headers; this module reads them and answers one question: did the
server we trust see a passing, aligned authentication for the forwarder's domain?

Which headers count (the rule):

* Only headers whose authserv-id (the first word) equals the configured one, compared
  case-insensitively. Anyone can add headers claiming any authserv-id to the mail they send.
* Only the *topmost run* of such headers. Each server prepends its own headers, so the ones our
  server added sit above everything the sender wrote. We take the headers from the top while
  they carry the trusted authserv-id and stop at the first one that does not: everything below
  it was in the message before our server saw it. No headers of ours at the top: nothing counts.
* Within that run, a failing DMARC result for the domain wins over any pass (a pass next to a
  fail is a forgery that our server did not strip). RFC 8601 section 5 asks the receiving server
  to remove incoming headers that carry its own authserv-id; Postfix with OpenDKIM/OpenDMARC,
  Microsoft 365 and Gmail do, and the run rule above is the defence for servers that do not.

What vouches for a domain ``D`` (the outer ``From:`` domain):

* ``dmarc=pass`` with ``header.from=D``; or, when there is no failing DMARC result for ``D``,
* ``spf=pass`` with an ``smtp.mailfrom`` domain aligned with ``D``, or
* ``dkim=pass`` with a ``header.d`` (else ``header.i``) domain aligned with ``D``.

Alignment is DMARC's *relaxed* alignment, simplified to avoid shipping the Public Suffix List:
two domains are aligned when they are equal or one is a subdomain of the other. That accepts
``bounces.firm.example`` for ``firm.example`` (the usual case) and refuses siblings
(``a.firm.example`` vs ``b.firm.example``), which real DMARC would accept: a stricter rule that
can only cost a missed pass, never admit a stranger. Siblings under a public suffix
(``a.github.io`` vs ``b.github.io``) are exactly what the PSL exists to tell apart, and this rule
refuses them without it. Only a public suffix itself passing SPF or DKIM could abuse the
parent direction, and registries do not send mail.

Parsing never raises: malformed, truncated or hostile headers parse to fewer results, and a
header without a recognisable authserv-id never counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: Limits against hostile input: longer headers are cut, further headers ignored.
MAX_HEADER_CHARS = 16384
MAX_HEADERS = 64
MAX_RESULTS = 64

#: DMARC results that mean "the domain's owner says this mail is not theirs".
DMARC_FAILURES = frozenset({"fail", "quarantine", "reject"})

_KEY_VALUE = re.compile(
    r"""(?P<key>[A-Za-z0-9_\-]+(?:\s*/\s*[A-Za-z0-9_\-.]+)?(?:\s*\.\s*[A-Za-z0-9_\-]+)?)
    \s*=\s*
    (?P<value>"(?:[^"\\]|\\.)*"|[^\s";]*)""",
    re.VERBOSE,
)
_TOKEN = re.compile(r"[^\s;=()\"]+")
_HEADER_BREAK = re.compile(r"\r?\n(?![ \t])")


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` clause. ``properties`` maps ``ptype.property`` (lower-cased, e.g.
    ``header.from``) to its value; ``reason`` is the optional ``reason=`` text."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def prop(self, name: str) -> str:
        """A property value, or ``""`` when absent."""
        return self.properties.get(name, "")


@dataclass(frozen=True)
class AuthResultsHeader:
    """One parsed header: who wrote it and what it says. ``authserv_id`` is ``None`` when the
    header does not start with one (such a header never counts)."""

    authserv_id: str | None
    results: tuple[AuthResult, ...] = ()


@dataclass(frozen=True)
class Vouch:
    """The answer for one domain: ``vouched``, the ``method`` that vouched (``dmarc``, ``spf``,
    ``dkim``), and ``reason``, a short phrase for reports ("DMARC fail", "no Authentication-Results
    from mx.firm.example")."""

    vouched: bool
    reason: str
    method: str | None = None
    #: True when the trusted server left no usable header at all (the config switch decides).
    missing: bool = False


def split_header_values(joined: str) -> list[str]:
    """Undo how :class:`~acchub_mailbot.core.messages.Message` joins repeated headers by newline.

    Folded continuation lines start with white space, so only a newline followed by a non-blank
    character separates two headers.
    """
    return [part for part in _HEADER_BREAK.split(joined) if part.strip()]


def _strip_comments(text: str) -> str:
    """Remove RFC 5322 comments (nested, with backslash escapes), keeping quoted strings intact.

    An unclosed comment swallows the rest, as a lenient reader would; it never raises.
    """
    out: list[str] = []
    depth = 0
    in_quote = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\" and (depth > 0 or in_quote):
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if in_quote:
            out.append(char)
            if char == '"':
                in_quote = False
            continue
        if char == "(":
            depth += 1
            continue
        if char == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(" ")
            continue
        if depth > 0:
            continue
        if char == '"':
            in_quote = True
        out.append(char)
    return "".join(out)


def _split_semicolons(text: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_quote:
            escaped = True
        elif char == '"':
            in_quote = not in_quote
        elif char == ";" and not in_quote:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _clean_key(key: str) -> str:
    return re.sub(r"\s+", "", key).lower()


def _parse_resinfo(segment: str) -> AuthResult | None:
    """``method[/version]=result [reason=...] [ptype.prop=value ...]``; ``None`` if malformed."""
    pairs = [
        (_clean_key(m.group("key")), _unquote(m.group("value")))
        for m in _KEY_VALUE.finditer(segment)
    ]
    if not pairs:
        return None
    method, result = pairs[0]
    method = method.split("/", 1)[0]
    if "." in method or not method or not result:
        return None
    properties: dict[str, str] = {}
    reason: str | None = None
    for key, value in pairs[1:]:
        if key == "reason":
            reason = reason or value
        elif key not in properties:
            properties[key] = value.strip()
    return AuthResult(method=method, result=result.lower(), properties=properties, reason=reason)


def parse_header(value: str) -> AuthResultsHeader:
    """Parse one ``Authentication-Results`` header value (without the field name)."""
    text = _strip_comments(value[:MAX_HEADER_CHARS])
    segments = _split_semicolons(text)
    head = segments[0].split()
    authserv_id: str | None = None
    # The first segment is "authserv-id [version]". Anything else (a '=' there means the writer
    # forgot the authserv-id) leaves the header without one, so it can never count.
    well_formed = 1 <= len(head) <= 2 and "=" not in segments[0] and _TOKEN.fullmatch(head[0])
    if well_formed and (len(head) == 1 or head[1].isdigit()):
        authserv_id = _unquote(head[0]).strip().lower().rstrip(".") or None
    results: list[AuthResult] = []
    for segment in segments[1:]:
        if len(results) >= MAX_RESULTS:
            break
        if segment.strip().lower() == "none":
            continue
        parsed = _parse_resinfo(segment)
        if parsed is not None:
            results.append(parsed)
    return AuthResultsHeader(authserv_id=authserv_id, results=tuple(results))


def parse_headers(values: Iterable[str]) -> list[AuthResultsHeader]:
    """Parse several header values, topmost first (the order they appear in the message)."""
    parsed: list[AuthResultsHeader] = []
    for value in values:
        if len(parsed) >= MAX_HEADERS:
            break
        parsed.append(parse_header(value))
    return parsed


def trusted_results(headers: Sequence[AuthResultsHeader], authserv_id: str) -> list[AuthResult]:
    """The results in the topmost run of headers carrying ``authserv_id`` (see module docs)."""
    wanted = authserv_id.strip().lower().rstrip(".")
    results: list[AuthResult] = []
    for header in headers:
        if header.authserv_id != wanted:
            break
        results.extend(header.results)
    return results


def domain_of(value: str) -> str:
    """The domain of ``user@domain``, ``@domain`` or ``domain``, lower-cased, no final dot."""
    text = value.strip().strip("<>").strip()
    return text.rpartition("@")[2].strip().lower().rstrip(".")


def aligned(domain: str, other: str) -> bool:
    """Relaxed alignment, simplified: equal, or one a subdomain of the other (see module docs)."""
    a, b = domain.lower().rstrip("."), other.lower().rstrip(".")
    if not a or not b or "." not in a or "." not in b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def vouch_for(
    headers: Sequence[AuthResultsHeader] | Iterable[str],
    domain: str,
    authserv_id: str,
) -> Vouch:
    """Does the server named ``authserv_id`` vouch for mail from ``domain``?

    ``headers`` are parsed headers or raw header values, topmost first.
    """
    parsed = [h if isinstance(h, AuthResultsHeader) else parse_header(h) for h in headers]
    domain = domain_of(domain)
    results = trusted_results(parsed, authserv_id)
    if not results:
        return Vouch(False, f"no Authentication-Results from {authserv_id}", missing=True)
    if not domain:
        return Vouch(False, "no sender domain to check")

    dmarc = [
        r for r in results if r.method == "dmarc" and domain_of(r.prop("header.from")) == domain
    ]
    failed = next((r for r in dmarc if r.result in DMARC_FAILURES), None)
    if failed is not None:
        return Vouch(False, f"DMARC {failed.result}", method="dmarc")
    if any(r.result == "pass" for r in dmarc):
        return Vouch(True, "DMARC pass", method="dmarc")
    for r in results:
        if r.method == "spf" and r.result == "pass":
            mailfrom = domain_of(r.prop("smtp.mailfrom"))
            if aligned(mailfrom, domain):
                return Vouch(True, f"SPF pass, aligned ({mailfrom})", method="spf")
        if r.method == "dkim" and r.result == "pass":
            signer = domain_of(r.prop("header.d") or r.prop("header.i"))
            if aligned(signer, domain):
                return Vouch(True, f"DKIM pass, aligned ({signer})", method="dkim")
    if dmarc:
        return Vouch(False, f"DMARC {dmarc[0].result}", method="dmarc")
    seen = sorted({f"{r.method}={r.result}" for r in results if r.method in ("spf", "dkim")})
    detail = ", ".join(seen) if seen else "no DMARC, SPF or DKIM result"
    return Vouch(False, f"no aligned pass for {domain} ({detail})")


__all__ = [
    "AuthResult",
    "AuthResultsHeader",
    "Vouch",
    "aligned",
    "domain_of",
    "parse_header",
    "parse_headers",
    "split_header_values",
    "trusted_results",
    "vouch_for",
]
