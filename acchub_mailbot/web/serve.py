"""Running the dashboard: in the foreground for ``acchub-mailbot web``, or on a thread of its own
inside ``run`` when ``web.enabled`` is true. Either way it only reads and writes the database;
polling stays the service's."""

from __future__ import annotations

import logging
import signal
import threading
import time

import uvicorn

from acchub_mailbot.app.runtime import App
from acchub_mailbot.web.server import create_web

log = logging.getLogger("acchub_mailbot.web")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _config(app: App, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_web(app),
        host=host,
        port=port,
        proxy_headers=False,  # X-Forwarded-For is believed only from web.trusted_proxies
        server_header=False,
        access_log=False,  # request lines would carry query strings; the routes log what matters
        log_level="warning",
    )


def serve_forever(app: App, host: str, port: int) -> bool:
    """Serve until SIGINT or SIGTERM, then stop cleanly; False when it could not start."""
    web = BackgroundWeb(app, host, port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        if not web.start():
            return False
        while web.thread.is_alive() and not stop.wait(1.0):
            pass
        return True
    finally:
        web.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BackgroundWeb:
    """The dashboard on a daemon thread, stopped with the service."""

    def __init__(self, app: App, host: str | None = None, port: int | None = None) -> None:
        web = app.settings.web
        host, port = host or web.host, port if port is not None else web.port
        self.server = uvicorn.Server(_config(app, host, port))
        # Off the main thread uvicorn leaves signal handlers alone: the service keeps its own.
        self.thread = threading.Thread(target=self.server.run, name="acchub-web", daemon=True)
        self.where = f"http://{host}:{port}/"

    def start(self, timeout: float = 15.0) -> bool:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if self.server.started:
            log.info("dashboard on %s", self.where)
            return True
        log.error("the dashboard did not start on %s (is the port in use?)", self.where)
        return False

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
