"""What a running process costs, read from /proc: memory, threads, CPU time, connections.

Each figure covers the process and its children (the prefilter workers), because a user pays
for both. Linux only, like the rest of the benchmark.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants that still run."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _kb(value: str | None) -> float:
    return float(value.split()[0]) if value else 0.0


def rss_mb(pid: int) -> float:
    """Resident memory now, the whole tree."""
    return sum(_kb(_status(p).get("VmRSS")) for p in tree(pid)) / 1024


def peak_rss_mb(pid: int) -> float:
    """Each process's own peak (``VmHWM``), summed over the tree."""
    return sum(_kb(_status(p).get("VmHWM")) for p in tree(pid)) / 1024


def threads(pid: int) -> int:
    return sum(int(_status(p).get("Threads", "0").strip() or 0) for p in tree(pid))


def cpu_seconds(pid: int) -> float:
    """User and system time used so far by the tree."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def connections_to(pid: int, port: int) -> int:
    """Established TCP connections from the tree to ``port`` (on any address)."""
    inodes: set[str] = set()
    for p in tree(pid):
        inodes |= _socket_inodes(p)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port == port and fields[9] in inodes:
                count += 1
    return count


@dataclass
class CpuMeter:
    """CPU use of a tree over a stretch of wall time, as a percentage of one core."""

    pid: int
    started_cpu: float = 0.0
    started_wall: float = 0.0

    def start(self, wall: float) -> None:
        self.started_cpu, self.started_wall = cpu_seconds(self.pid), wall

    def percent(self, wall: float) -> float:
        return 100 * (cpu_seconds(self.pid) - self.started_cpu) / (wall - self.started_wall)
