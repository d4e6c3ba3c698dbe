"""Named points where a crash can be injected, so that crash-safety is tested, not assumed.

``ACCHUB_FAILPOINTS="after-commit=kill@3,digest-sent=raise"`` makes the third pass through
``after-commit`` kill the process with SIGKILL and every pass through ``digest-sent`` raise.
Unset (the normal case) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "ACCHUB_FAILPOINTS"

_lock = threading.Lock()
_hits: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """Raised by a failpoint configured with ``raise``."""


def _spec(name: str) -> tuple[str, int] | None:
    raw = os.environ.get(ENV)
    if not raw:
        return None
    for item in raw.split(","):
        key, _, action = item.strip().partition("=")
        if key == name:
            action, _, nth = action.partition("@")
            return action or "kill", int(nth) if nth.isdigit() else 1
    return None


def hit(name: str) -> None:
    """Pass through the failpoint ``name``; act if the environment says so."""
    spec = _spec(name)
    if spec is None:
        return
    action, nth = spec
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        count = _hits[name]
    if count < nth:
        return
    if action == "kill" and count == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "raise":
        raise InjectedFault(f"failpoint {name} (pass {count})")
