"""The service's counters and the health rule, owned by the application layer.

The poller counts what it does and decides whether a mailbox is healthy; the HTTP endpoint in
``service/health.py`` only shows these figures, so it depends on them and not the other way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    """The service's counters, in a registry of their own (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter(
            "acchub_polls",
            "Polls by mailbox and result",
            ["mailbox", "result"],
            registry=self.registry,
        )
        self.messages = Counter(
            "acchub_messages", "Messages decided, by verdict", ["mailbox", "verdict"],
            registry=self.registry,
        )  # fmt: skip
        self.registrations = Counter(
            "acchub_registrations", "Clients registered", ["mailbox"], registry=self.registry
        )
        self.failures = Counter(
            "acchub_failures", "Failures by kind", ["mailbox", "kind"], registry=self.registry
        )
        self.poll_duration = Histogram(
            "acchub_poll_duration_seconds",
            "Duration of a poll",
            ["mailbox"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def mailbox_is_healthy(
    last_success: datetime | None, started: datetime, interval_seconds: int, now: datetime
) -> bool:
    """Healthy when the last successful poll is within 3 intervals (grace after start-up)."""
    window = timedelta(seconds=3 * interval_seconds)
    if last_success is None:
        return now - started <= window
    return now - last_success <= window
