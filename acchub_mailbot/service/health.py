"""Health and metrics: ``/healthz`` and ``/metrics`` (Prometheus text format) over HTTP.

The endpoint is optional and binds to 127.0.0.1 by default: it tells an operator or a monitor
whether every mailbox has polled recently, and counts polls, messages by verdict, registrations
and failures. It exposes no message content and no configuration values.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from acchub_mailbot.app.metrics import Metrics

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.health")

HealthFn = Callable[[], dict[str, Any]]


def _handler(metrics: Metrics, health: HealthFn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "acchub-mailbot"

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.render())
            elif self.path.split("?")[0] in ("/healthz", "/health"):
                try:
                    body = health()
                except Exception as exc:  # a broken database is "unhealthy", not a crash
                    body = {"healthy": False, "error": type(exc).__name__}
                status = 200 if body.get("healthy") else 503
                self._send(status, "application/json", json.dumps(body, default=str).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler


class HealthServer:
    """A small threaded HTTP server; ``port=0`` picks a free port (see ``.port``)."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: HealthFn) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(metrics, health))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info(
            "health endpoint on http://%s:%d/healthz and /metrics",
            self._server.server_address[0],
            self.port,
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def utcnow() -> datetime:
    return datetime.now(UTC)
