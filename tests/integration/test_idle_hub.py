"""The IDLE hub against a real Dovecot: many mailboxes watched by one thread, one connection
per mailbox however often it is asked for, a connection given up when asked, and a server
restart survived at the default backoff."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from acchub_mailbot.config import MailboxSettings, parse_settings
from acchub_mailbot.mail.idle import IdleHub
from tests import mailfactory, support
from tests.servers.dovecot import DovecotServer, ImapAccount

pytestmark = pytest.mark.integration


def mailboxes(accounts: dict[str, ImapAccount]) -> dict[str, MailboxSettings]:
    data = {
        "database": {"url": "sqlite:///:memory:"},
        "mailboxes": [support.mailbox_entry(account, name) for name, account in accounts.items()],
    }
    settings = parse_settings(data, environ=support.environment(accounts))
    return {m.name: m for m in settings.mailboxes}


class Wakes:
    """What the hub woke, per mailbox; safe from the hub's threads."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def callback(self, name: str) -> Callable[[], None]:
        def wake() -> None:
            with self._lock:
                self.counts[name] += 1

        return wake

    def of(self, name: str) -> int:
        with self._lock:
            return self.counts[name]


@pytest.fixture
def hub() -> Iterator[IdleHub]:
    stop = threading.Event()
    watcher = IdleHub(stop)
    watcher.start()
    yield watcher
    watcher.close()


def sessions_of(dovecot: DovecotServer, accounts: dict[str, ImapAccount]) -> dict[str, int]:
    opened = dovecot.open_sessions()
    return {name: opened.get(account.username, 0) for name, account in accounts.items()}


def test_one_thread_watches_many_mailboxes_and_wakes_only_the_one_with_mail(
    dovecot: DovecotServer, hub: IdleHub
) -> None:
    accounts = {f"box{i:02d}": dovecot.new_account(f"idle{i:02d}") for i in range(12)}
    wakes = Wakes()
    threads_before = threading.active_count()
    for name, mailbox in mailboxes(accounts).items():
        hub.watch(mailbox, wakes.callback(name))
    support.wait_until(lambda: hub.connected() == set(accounts), 30, "every IDLE connection")
    # One loop thread and at most four connector threads, whatever the number of mailboxes.
    assert threading.active_count() - threads_before <= 1 + 4
    assert sessions_of(dovecot, accounts) == dict.fromkeys(accounts, 1)
    first = {name: wakes.of(name) for name in accounts}
    assert all(count == 1 for count in first.values())  # the wake-up after connecting

    for target in ("box03", "box07", "box11"):
        accounts[target].append(mailfactory.ordinary(f"news for {target}"))
        support.wait_until(lambda t=target: wakes.of(t) > first[t], 10, f"{target} woken")
        first[target] = wakes.of(target)
    time.sleep(0.5)
    assert {name: wakes.of(name) for name in accounts} == first  # nobody else was woken


def test_watching_twice_keeps_one_connection_and_unwatch_closes_it(
    dovecot: DovecotServer, hub: IdleHub
) -> None:
    accounts = {"solo": dovecot.new_account("idle-solo"), "other": dovecot.new_account("idle-o")}
    settings = mailboxes(accounts)
    wakes = Wakes()
    for _ in range(3):
        for name, mailbox in settings.items():
            hub.watch(mailbox, wakes.callback(name))
    support.wait_until(lambda: hub.connected() == set(accounts), 30, "both IDLE connections")
    time.sleep(0.5)
    assert sessions_of(dovecot, accounts) == {"solo": 1, "other": 1}

    hub.unwatch("solo")
    support.wait_until(
        lambda: sessions_of(dovecot, accounts) == {"solo": 0, "other": 1}, 10, "solo closed"
    )
    assert hub.connected() == {"other"}
    woken = wakes.of("solo")
    accounts["solo"].append(mailfactory.ordinary("after unwatch"))
    accounts["other"].append(mailfactory.ordinary("still watched"))
    support.wait_until(lambda: wakes.of("other") >= 2, 10, "other woken")
    assert wakes.of("solo") == woken


def test_a_server_restart_is_survived_at_the_default_backoff(
    dovecot: DovecotServer, hub: IdleHub
) -> None:
    accounts = {"box": dovecot.new_account("idle-restart")}
    wakes = Wakes()
    for name, mailbox in mailboxes(accounts).items():
        hub.watch(mailbox, wakes.callback(name))
    support.wait_until(lambda: hub.connected() == {"box"}, 30, "the IDLE connection")
    try:
        dovecot.stop()
        support.wait_until(lambda: hub.connected() == set(), 10, "the loss noticed")
    finally:
        dovecot.start()
    # Reconnected on the default backoff (1 to 2 s, doubling), and woken once reconnected.
    support.wait_until(lambda: hub.connected() == {"box"}, 60, "the IDLE connection again")
    woken = wakes.of("box")
    assert woken >= 2
    accounts["box"].append(mailfactory.ordinary("after the restart"))
    support.wait_until(lambda: wakes.of("box") > woken, 10, "woken after the restart")
    assert sessions_of(dovecot, accounts) == {"box": 1}
