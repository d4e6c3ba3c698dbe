"""A small HTTPS server on 127.0.0.1 for the live "Test client URL" check: stdlib
``http.server`` + ``ssl`` in a thread, certificates from a throwaway ``trustme`` CA, and a
resolver mapping Microsoft's host names to loopback (with ``port_overrides`` sending 443 to the
server's port), so nothing leaves the machine."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

from acchub_mailbot.verify.urlcheck import LiveChecker, LiveCheckSettings

BC = "businesscentral.dynamics.com"
LOGIN = "login.microsoftonline.com"
EVIL = "evil.example"
TENANT = "contoso.onmicrosoft.com"
CLIENT_URL = f"https://{BC}/{TENANT}"
LOCAL = ("127.0.0.0/8",)


@dataclass
class Seen:
    """What a request looked like from the server's side."""

    host: str
    path: str
    headers: dict[str, str]


Behaviour = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    server: HTTPSServer

    def do_GET(self) -> None:
        self.server.seen.append(
            Seen(
                self.headers.get("Host", ""),
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
            )
        )
        self.server.behaviour(self)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HTTPSServer(ThreadingHTTPServer):
    """An HTTPS server doing the TLS handshake in the request thread, counting connections."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context
        self.behaviour = behaviour
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        self.connections = 0
        self.handler_errors: list[BaseException] = []
        self.release = threading.Event()
        context.sni_callback = self._record_sni

    def _record_sni(self, _obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.sni.append(name)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        self.connections += 1
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            Handler(tls, client_address, self)
        except OSError as exc:
            self.handler_errors.append(exc)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class World:
    """The test's CA, its servers, and a resolver mapping names to loopback."""

    tmp: Path
    ca: trustme.CA
    ca_file: str
    names: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    servers: list[HTTPSServer] = field(default_factory=list)

    def resolver(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])

    def server(self, behaviour: Behaviour, *cert_names: str) -> HTTPSServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(cert_names or (BC, LOGIN, EVIL))).configure_cert(context)
        server = HTTPSServer(context, behaviour)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.servers.append(server)
        return server

    def settings(self, port: int, **overrides: Any) -> LiveCheckSettings:
        values: dict[str, Any] = {
            "timeout_seconds": 2.0,
            "allow_networks": LOCAL,
            "ca_file": self.ca_file,
            "port_overrides": {443: port},
        }
        values.update(overrides)
        return LiveCheckSettings(**values)

    def check(self, port: int, url: str = CLIENT_URL, **overrides: Any) -> Any:
        with LiveChecker(self.settings(port, **overrides), resolver=self.resolver) as checker:
            return checker.check(url)


def open_world(tmp_path: Path, ca: trustme.CA) -> Iterator[World]:
    """A world whose names all point at loopback; its servers are shut down at the end."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    w = World(tmp_path, ca, str(ca_file))
    w.names = {BC: ["127.0.0.1"], LOGIN: ["127.0.0.1"], EVIL: ["127.0.0.1"]}
    yield w
    for server in w.servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def ok(handler: Handler) -> None:
    handler.reply(200, {"Content-Type": "text/html"}, b"<html>Business Central</html>")


def redirect_to(location: str) -> Behaviour:
    return lambda handler: handler.reply(302, {"Location": location})


def status(code: int) -> Behaviour:
    return lambda handler: handler.reply(code, {}, b"error page")
