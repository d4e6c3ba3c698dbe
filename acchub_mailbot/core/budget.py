"""What parsing one message may still cost: parts, time and the first limit hit.

One budget is shared by the byte-level pass (:mod:`acchub_mailbot.core.skeleton`) and the walk
over the parsed tree (:mod:`acchub_mailbot.core.messages`), attached messages included, so a
message cannot spend its limits twice.
"""

from __future__ import annotations

from acchub_mailbot.core.limits import Deadline, Limits


class ParseBudget:
    """What one message may still cost, shared by the whole tree (attached messages included)."""

    def __init__(self, limits: Limits, deadline: Deadline) -> None:
        self.limits = limits
        self.deadline = deadline
        self.parts = 0
        self.hit: str | None = None
        self.notes: list[str] = []
        self.halted = False

    def exceed(self, name: str, detail: str) -> None:
        """Remember a limit; the first one hit is the one reported."""
        if self.hit is None:
            self.hit = name
        note = f"limit {name}: {detail}"
        if note not in self.notes:
            self.notes.append(note)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def stopped(self) -> bool:
        """True once no further part may be read (part count or time used up)."""
        return self.halted

    def restart_count(self) -> None:
        """Count parts afresh (the walk after the byte-level pass); the deadline stays."""
        self.parts = 0
        self.halted = False

    def take_part(self) -> bool:
        """Count one more part; False when the part must not be read."""
        if self.stopped:
            return False
        self.parts += 1
        if self.parts > self.limits.max_parts:
            self.halted = True
            self.exceed(
                "max_parts", f"more than {self.limits.max_parts} MIME parts; the rest were not read"
            )
            return False
        if self.deadline.expired():
            self.halted = True
            self.exceed(
                "time_budget_seconds",
                f"parsing took more than {self.limits.time_budget_seconds:g} s; stopped early",
            )
            return False
        return True
