"""Push delivery: one IMAP IDLE connection per held mailbox, all watched by one thread.

IDLE only *wakes* the normal, idempotent poll; it never processes mail itself, so a lost or
duplicated notification is harmless and the interval poll stays the safety net.

Why one thread and not a thread per connection: an instance may watch a thousand mailboxes,
and a thousand threads each waking to check its socket cost memory, scheduler time and the GIL
for nothing. Here a single selector waits on every IDLE socket at once and costs nothing while
no mail arrives. What blocks (connecting, signing in, the periodic NOOP) runs on a small pool
of connector threads, so a slow or dead server never stalls the other mailboxes.

Each connection is proven alive every ``watchdog_seconds`` (DONE, NOOP, IDLE again), which
also renews the IDLE command long before the 29 minutes RFC 2177 allows. A connection that
fails is replaced with exponential backoff and jitter. Never more than one IDLE connection is
open per mailbox: a mailbox is watched once, whatever the number of calls to :meth:`watch`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from acchub_mailbot.config import MailboxSettings
from acchub_mailbot.errors import MailboxUnavailable
from acchub_mailbot.mail.inbox import NETWORK_ERRORS, Inbox

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.idle")

RETRYABLE: tuple[type[BaseException], ...] = (MailboxUnavailable, *NETWORK_ERRORS)


class _State(enum.Enum):
    BUSY = "busy"  # a connector thread is connecting or checking it
    IDLE = "idle"  # in IDLE, its socket in the selector
    WAITING = "waiting"  # failed; reconnects at ``due``
    NO_IDLE = "no-idle"  # the server has no IDLE: interval polls only


@dataclass
class _Watch:
    mailbox: MailboxSettings
    on_new_mail: Callable[[], None]
    state: _State = _State.WAITING
    inbox: Inbox | None = None
    due: float = 0.0
    failures: int = 0
    dropped: bool = False
    sock: socket.socket | None = field(default=None, repr=False)


class IdleHub:
    """Keeps one IDLE connection open per watched mailbox and calls its ``on_new_mail``."""

    def __init__(
        self,
        stop: threading.Event,
        *,
        watchdog_seconds: float = 120,
        max_backoff_seconds: float = 300,
        connectors: int = 4,
    ) -> None:
        self.stop_event = stop
        self.watchdog_seconds = watchdog_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._watches: dict[str, _Watch] = {}
        self._events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=connectors, thread_name_prefix="idle-connect")
        self._thread = threading.Thread(target=self._loop, name="idle", daemon=True)
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._connected: set[str] = set()

    # -- the interface, safe from any thread ----------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def watch(self, mailbox: MailboxSettings, on_new_mail: Callable[[], None]) -> None:
        """Watch ``mailbox``; a no-op while it is watched (every poll of it says so)."""
        with self._lock:
            if mailbox.name in self._wanted:
                return
            self._wanted.add(mailbox.name)
        self._post(lambda: self._add(mailbox, on_new_mail))

    def unwatch(self, name: str) -> None:
        """Stop watching (another instance holds the mailbox now)."""
        with self._lock:
            if name not in self._wanted:
                return
            self._wanted.discard(name)
        self._post(lambda: self._remove(name))

    def connected(self) -> set[str]:
        """The mailboxes whose IDLE connection is up."""
        with self._lock:
            return set(self._connected)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop and close every connection."""
        self.stop_event.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the loop ---------------------------------------------------------------------------

    def _post(self, event: Callable[[], None]) -> None:
        self._events.put(event)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: the loop wakes anyway
            self._wake_w.send(b"\0")

    def _loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                self._run_events()
                now = time.monotonic()
                next_due = now + 1.0
                for watch in list(self._watches.values()):
                    if watch.state in (_State.WAITING, _State.IDLE) and watch.due <= now:
                        self._submit(watch)
                    elif watch.state in (_State.WAITING, _State.IDLE):
                        next_due = min(next_due, watch.due)
                for key, _mask in self._selector.select(max(0.0, next_due - time.monotonic())):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._readable(key.data)
        finally:
            for watch in list(self._watches.values()):
                self._remove(watch.mailbox.name)
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _run_events(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            event()

    def _add(self, mailbox: MailboxSettings, on_new_mail: Callable[[], None]) -> None:
        if mailbox.name in self._watches:
            return
        self._watches[mailbox.name] = _Watch(mailbox, on_new_mail, due=time.monotonic())

    def _remove(self, name: str) -> None:
        watch = self._watches.pop(name, None)
        if watch is None:
            return
        watch.dropped = True
        if watch.state is _State.IDLE:
            self._unregister(watch)
        if watch.state is not _State.BUSY:  # a busy one is closed when its connector returns
            _discard(watch.inbox)
            watch.inbox = None

    def _submit(self, watch: _Watch) -> None:
        """Hand the watch to a connector: connect it, or prove its connection alive."""
        if watch.state is _State.IDLE:
            self._unregister(watch)
            job = self._check
        else:
            job = self._connect
        watch.state = _State.BUSY
        try:
            self._pool.submit(self._guarded, job, watch)
        except RuntimeError:  # shutting down
            watch.state = _State.WAITING

    def _readable(self, watch: _Watch) -> None:
        inbox = watch.inbox
        assert inbox is not None
        try:
            news, alive = inbox.idle_read()
        except RETRYABLE as exc:
            news, alive = False, False
            log.debug("mailbox=%s IDLE read failed: %s", watch.mailbox.name, exc)
        if news:
            watch.on_new_mail()
        if not alive:
            self._unregister(watch)
            self._failed(watch, ConnectionError("the server closed the IDLE connection"))

    def _register(self, watch: _Watch) -> None:
        assert watch.inbox is not None
        watch.sock = watch.inbox.client.socket()
        self._selector.register(watch.sock, selectors.EVENT_READ, watch)
        watch.state = _State.IDLE
        watch.due = time.monotonic() + self.watchdog_seconds
        with self._lock:
            self._connected.add(watch.mailbox.name)

    def _unregister(self, watch: _Watch) -> None:
        if watch.sock is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(watch.sock)
            watch.sock = None
        with self._lock:
            self._connected.discard(watch.mailbox.name)

    def _failed(self, watch: _Watch, exc: BaseException) -> None:
        _discard(watch.inbox)
        watch.inbox = None
        watch.failures += 1
        delay = min(self.max_backoff_seconds, 2 ** min(watch.failures, 8))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
        log.warning(
            "mailbox=%s IDLE connection lost (%s); reconnecting in %.0fs",
            watch.mailbox.name,
            exc,
            delay,
        )
        watch.state = _State.WAITING
        watch.due = time.monotonic() + delay

    # -- connector threads: the blocking parts ----------------------------------------------

    def _guarded(self, job: Callable[[_Watch], None], watch: _Watch) -> None:
        try:
            job(watch)
        except RETRYABLE as exc:
            self._post(functools.partial(self._after_failure, watch, exc))
        except Exception as exc:  # a bug must not leave the mailbox unwatched for good
            log.exception("mailbox=%s IDLE: unexpected error", watch.mailbox.name)
            self._post(functools.partial(self._after_failure, watch, exc))

    def _connect(self, watch: _Watch) -> None:
        inbox = Inbox(watch.mailbox.imap, mailbox=watch.mailbox.name)
        watch.inbox = inbox
        inbox.connect()
        inbox.select()
        if not inbox.client.has_capability("IDLE"):
            log.warning("mailbox=%s: the server has no IDLE; interval polls only", inbox.mailbox)
            self._post(lambda: self._without_idle(watch))
            return
        inbox.idle_start()
        # Mail that arrived while we were connecting is caught by this first wake-up.
        watch.on_new_mail()
        self._post(lambda: self._ready(watch, first=True))

    def _check(self, watch: _Watch) -> None:
        """The watchdog: leave IDLE, NOOP (a dead connection raises here), IDLE again."""
        inbox = watch.inbox
        assert inbox is not None
        news = inbox.idle_stop()
        inbox.noop()
        inbox.idle_start()
        if news:
            watch.on_new_mail()
        self._post(lambda: self._ready(watch, first=False))

    # -- results of connector threads, run in the loop ---------------------------------------

    def _ready(self, watch: _Watch, *, first: bool) -> None:
        if watch.dropped or self.stop_event.is_set():
            _discard(watch.inbox)
            watch.inbox = None
            return
        if first:
            log.info("mailbox=%s IDLE connected", watch.mailbox.name)
        watch.failures = 0
        self._register(watch)

    def _after_failure(self, watch: _Watch, exc: BaseException) -> None:
        if watch.dropped:
            _discard(watch.inbox)
            watch.inbox = None
            return
        self._failed(watch, exc)

    def _without_idle(self, watch: _Watch) -> None:
        _discard(watch.inbox)
        watch.inbox = None
        watch.state = _State.NO_IDLE


def _discard(inbox: Inbox | None) -> None:
    """Close a connection without waiting on the server: it may be the one that failed."""
    if inbox is not None:
        inbox.abandon()
