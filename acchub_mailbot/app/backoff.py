"""The retry backoff, one rule for every job that retries later.

A failed message, an unsent digest, an unanswered confirmation and an unreachable client URL are
all retried after a delay that doubles with each attempt; they share this function so that the
schedule is the same everywhere.
"""

from __future__ import annotations

from datetime import timedelta


def backoff(attempts: int, base_seconds: float, cap_seconds: float = 6 * 3600) -> timedelta:
    """Exponential backoff: base, 2*base, 4*base, ... capped."""
    return timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempts - 1))))
