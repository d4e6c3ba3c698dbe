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
are pure functions; :class:`LiveChecker` is the thin shell that performs the I/O.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from acchub_mailbot import __version__
from acchub_mailbot.core.urlrules import check_client_url, classify_host, normalize_host
from acchub_mailbot.verify.netguard import IPNetwork, parse_networks, refusal_reason

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
logger = logging.getLogger("acchub_mailbot.verify")

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

#: Takes a host name and port, returns the IP addresses (as strings) to consider.
Resolver = Callable[[str, int], list[str]]


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


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the operating system, keeping every distinct address in order."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


# ---------------------------------------------------------------------------------------------
# Pure decisions


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


def _status_reason(status: int, phrase: str) -> str:
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


# ---------------------------------------------------------------------------------------------
# The network seam: resolve, check every address, connect to the checked one


class AddressRefused(Exception):
    """Raised by the network backend when a host resolves to an address netguard refuses."""


class ResolutionFailed(Exception):
    """Raised by the network backend when a host name does not resolve."""


class _DeadlineStream(httpcore.NetworkStream):
    """Caps every operation's timeout by what remains of the whole check's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _budget(self, timeout: float | None, error: type[Exception]) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise error("the check ran past its overall deadline")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._budget(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, budget), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """An httpcore backend that connects only to addresses netguard allows.

    ``connect_tcp`` resolves the host with ``resolver``, refuses the host if *any* of its
    addresses is refused, then connects to the checked addresses themselves. httpcore still
    does the TLS handshake with ``server_hostname`` set to the real host name. Each step is
    appended to ``log`` so that the caller can show it.
    """

    def __init__(
        self,
        resolver: Resolver,
        allow_networks: Iterable[IPNetwork] = (),
        *,
        port_overrides: Mapping[int, int] | None = None,
        deadline: float | None = None,
        log: list[str] | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._resolver = resolver
        self._allow = tuple(allow_networks)
        self._ports = dict(port_overrides or {})
        self._deadline = deadline
        self.log: list[str] = log if log is not None else []
        self._inner = inner or httpcore.SyncBackend()

    def _timeout(self, timeout: float | None) -> float | None:
        if self._deadline is None:
            return timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ConnectTimeout("the check ran past its overall deadline")
        return remaining if timeout is None else min(timeout, remaining)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._resolve(host, port)
        refused = [
            reason
            for reason in (refusal_reason(address, self._allow) for address in addresses)
            if reason is not None
        ]
        if refused:
            self.log.append(f"dns: {host} -> {', '.join(addresses)}: refused")
            raise AddressRefused(f"{host} resolves to a refused address: {'; '.join(refused)}")
        self.log.append(f"dns: {host} -> {', '.join(addresses)} (all allowed)")
        connect_port = self._ports.get(port, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    connect_port,
                    timeout=self._timeout(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                self.log.append(f"connect: {address} port {connect_port}: {_describe(exc)}")
                last_error = exc
                continue
            self.log.append(f"connect: {address} port {connect_port}")
            if self._deadline is None:
                return stream
            return _DeadlineStream(stream, self._deadline)
        assert last_error is not None  # addresses is never empty here
        raise last_error

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            addresses = list(self._resolver(host, port))
        except (OSError, UnicodeError) as exc:
            self.log.append(f"dns: {host}: {_describe(exc)}")
            raise ResolutionFailed(f"{host} does not resolve ({_describe(exc)})") from exc
        if not addresses:
            self.log.append(f"dns: {host}: no addresses")
            raise ResolutionFailed(f"{host} resolves to no address")
        return addresses

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Unix sockets are never a legitimate target of a client URL."""
        raise AddressRefused("connections to unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's exceptions, most specific first, and what httpx calls them.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx_error(exc: Exception) -> Exception:
    for core_type, httpx_type in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, core_type):
            return httpx_type(str(exc))
    return exc


class _MappedStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that uses :class:`GuardedNetworkBackend`.

    ``httpx.HTTPTransport`` offers no way to pass a network backend, so this is the small
    equivalent of its ``handle_request``, with the same exception mapping.
    """

    def __init__(self, backend: httpcore.NetworkBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            network_backend=backend,
            http1=True,
            http2=False,
            max_connections=4,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_MappedStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
            result = _result(Outcome.FAILED, rule.reason, steps, None)
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
                return _result(Outcome.FAILED, "a redirect to a malformed address", steps, shown)
            try:
                response = client.send(request, stream=True)
            except AddressRefused as exc:
                return _result(Outcome.FAILED, f"address refused: {exc}", steps, shown)
            except ResolutionFailed as exc:
                return _result(Outcome.UNREACHABLE, str(exc), steps, shown)
            except httpx.HTTPError as exc:
                return self._network_failure(exc, shown, steps)
            try:
                status, phrase = response.status_code, response.reason_phrase
                if status in (301, 302, 303, 307, 308):
                    decision = classify_redirect(current, response.headers.get("location"))
                    target = display_url(decision.url) if decision.url else "(refused)"
                    steps.append(f"GET {shown} -> {status} {phrase}, redirect to {target}")
                    if decision.action == "refuse":
                        return _result(Outcome.FAILED, decision.reason, steps, shown)
                    assert decision.url is not None
                    if decision.action == "sign-in":
                        steps.append(f"{target} is Microsoft sign-in: not followed")
                        reason = "Business Central redirects to Microsoft sign-in"
                        return _result(Outcome.VERIFIED, reason, steps, display_url(decision.url))
                    if decision.url in requested:
                        reason = f"a redirect loop back to {target}"
                        return _result(Outcome.FAILED, reason, steps, shown)
                    redirects += 1
                    if redirects > self._settings.max_redirects:
                        reason = f"more than {self._settings.max_redirects} redirects"
                        return _result(Outcome.FAILED, reason, steps, shown)
                    current = decision.url
                    continue
                outcome = classify_status(status)
                note = ""
                if outcome is Outcome.VERIFIED:
                    size, capped = self._read_capped(response)
                    note = f", read {size} bytes" + (" (stopped at the size cap)" if capped else "")
                steps.append(f"GET {shown} -> {status} {phrase}{note}")
                return _result(outcome, _status_reason(status, phrase), steps, shown)
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
            return _result(Outcome.FAILED, f"TLS certificate error: {detail}", steps, shown)
        if tls is not None and not isinstance(tls, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            steps.append(f"GET {shown}: TLS handshake failed: {tls.reason or tls}")
            reason = f"TLS handshake failed: {tls.reason or tls}"
            return _result(Outcome.FAILED, reason, steps, shown)
        if isinstance(exc, httpx.TimeoutException):
            what = "connection" if isinstance(exc, httpx.ConnectTimeout) else "response"
            steps.append(f"GET {shown}: timed out waiting for the {what}")
            return _result(Outcome.UNREACHABLE, f"timed out waiting for the {what}", steps, shown)
        steps.append(f"GET {shown}: {_describe(exc)}")
        return _result(Outcome.UNREACHABLE, f"network error: {_describe(exc)}", steps, shown)


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


def _result(
    outcome: Outcome, reason: str, steps: list[str], final_url: str | None
) -> VerificationResult:
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
