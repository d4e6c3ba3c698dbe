"""Who holds a lease or a claim: instance IDs, and whether the process behind one is gone.

An instance ID is ``host:pid:start:random``. ``start`` marks the process's start (the kernel's
boot ID and the process start time, from ``/proc``), so that a PID reused after a crash (a
container restarted as PID 1 again) does not count as the dead holder being alive. A holder on
this host whose process no longer exists, or whose PID now belongs to another process, is gone
at once; a holder on another host is gone only when it stops heartbeating.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return ""


def start_marker(pid: int) -> str:
    """``bootid.starttime`` of a live process, ``""`` when it cannot be read (or is gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()
    # Field 22 of stat is the start time; ``fields`` begins at field 3 (the state).
    if len(fields) < 20:
        return ""
    boot = _boot_id()
    return f"{boot}.{fields[19]}" if boot else ""


def new_instance_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_marker(pid) or '-'}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int | None
    start: str  # "" when the ID does not say (IDs written before start markers existed)

    @classmethod
    def parse(cls, instance_id: str) -> Holder:
        parts = instance_id.split(":")
        host = parts[0]
        pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        start = parts[2] if len(parts) == 4 and parts[2] != "-" else ""
        return cls(host, pid, start)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def gone_here(instance_id: str, *, own_id: str | None = None) -> bool:
    """True when the holder was a process on this host that no longer runs.

    False for holders on other hosts (only their heartbeats tell), and whenever in doubt.
    """
    if own_id is not None and instance_id == own_id:
        return False
    holder = Holder.parse(instance_id)
    if holder.host != socket.gethostname() or holder.pid is None:
        return False
    if not _process_exists(holder.pid):
        return True
    if not holder.start:
        return holder.pid == os.getpid()  # an old ID of ours with our PID is a predecessor's
    current = start_marker(holder.pid)
    return bool(current) and current != holder.start
