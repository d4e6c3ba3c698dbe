"""The check's HTTP transport: every connection goes to an address netguard has allowed.

The host of a client URL is resolved once; if any of its addresses is refused the connection is
not made, otherwise the TCP connection goes to the checked address itself (no second look-up that
could be rebound) while TLS still verifies the certificate for the real host name. httpx offers no
way to hand its transport a network backend, so :class:`GuardedTransport` is a small equivalent of
``httpx.HTTPTransport`` over an httpcore pool that uses :class:`GuardedNetworkBackend`, and every
operation is capped by the whole check's deadline.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpcore
import httpx

from acchub_mailbot.verify.netguard import IPNetwork, refusal_reason

#: Takes a host name and port, returns the IP addresses (as strings) to consider.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the operating system, keeping every distinct address in order."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


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
                self.log.append(f"connect: {address} port {connect_port}: {describe_error(exc)}")
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
            self.log.append(f"dns: {host}: {describe_error(exc)}")
            raise ResolutionFailed(f"{host} does not resolve ({describe_error(exc)})") from exc
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


def describe_error(exc: BaseException) -> str:
    """An exception as one short line for a step of the check: its type and its message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
