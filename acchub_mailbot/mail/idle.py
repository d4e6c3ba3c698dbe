"""Push delivery: one IMAP IDLE connection per mailbox wakes that mailbox's poll.

IDLE only *wakes* the normal, idempotent poll; it never processes mail itself, so a lost or
duplicated notification is harmless and the interval poll stays the safety net. The IDLE command
is re-issued well before the 29 minutes RFC 2177 allows, and every ``watchdog_seconds`` the
connection is proven alive with a NOOP; a connection that fails either way is replaced, with
exponential backoff and jitter between attempts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from acchub_mailbot.config import MailboxSettings
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.mail.inbox import NETWORK_ERRORS, Inbox

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.idle")

RETRYABLE: tuple[type[BaseException], ...] = (MailboxUnavailable, *NETWORK_ERRORS)


class IdleWatcher(threading.Thread):
    """Keeps an IDLE connection open for one mailbox and calls ``on_new_mail`` on news."""

    def __init__(
        self,
        mailbox: MailboxSettings,
        on_new_mail: Callable[[], None],
        stop: threading.Event,
        *,
        renew_seconds: float = 20 * 60,
        watchdog_seconds: float = 120,
        max_backoff_seconds: float = 300,
    ) -> None:
        super().__init__(name=f"idle:{mailbox.name}", daemon=True)
        self.mailbox = mailbox
        self.on_new_mail = on_new_mail
        self.stop_event = stop
        self.renew_seconds = renew_seconds
        self.watchdog_seconds = watchdog_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.connected = threading.Event()

    def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                self._session()
                failures = 0
            except RETRYABLE as exc:
                failures += 1
                delay = min(self.max_backoff_seconds, 2 ** min(failures, 8))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
                log.warning(
                    "mailbox=%s IDLE connection lost (%s); reconnecting in %.0fs",
                    self.mailbox.name,
                    exc,
                    delay,
                )
                self.connected.clear()
                self.stop_event.wait(delay)

    def _session(self) -> None:
        with Inbox(self.mailbox.imap, mailbox=self.mailbox.name) as inbox:
            inbox.select()
            if not inbox.client.has_capability("IDLE"):
                log.warning(
                    "mailbox=%s: the server has no IDLE; interval polls only", self.mailbox.name
                )
                self.stop_event.wait()
                return
            log.info("mailbox=%s IDLE connected", self.mailbox.name)
            # Mail that arrived while we were connecting is caught by this first wake-up.
            self.on_new_mail()
            while not self.stop_event.is_set():
                inbox.idle_start()
                self.connected.set()
                started = time.monotonic()
                news = False
                try:
                    while not self.stop_event.is_set():
                        elapsed = time.monotonic() - started
                        if elapsed >= min(self.renew_seconds, self.watchdog_seconds):
                            break
                        if inbox.idle_wait(timeout=min(5.0, self.watchdog_seconds - elapsed)):
                            news = True
                            break
                finally:
                    inbox.idle_stop()
                if news:
                    self.on_new_mail()
                else:
                    inbox.noop()  # the watchdog: a dead connection raises here
