"""Whether a lease holder's process is gone: by PID and process start, on this host only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from acchub_mailbot.store import holders


def test_this_process_is_alive_and_its_id_names_its_start() -> None:
    me = holders.new_instance_id()
    parsed = holders.Holder.parse(me)
    assert parsed.host == socket.gethostname()
    assert parsed.pid == os.getpid()
    assert parsed.start == holders.start_marker(os.getpid()) != ""
    assert not holders.gone_here(me)


def test_a_process_that_exited_is_gone() -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from acchub_mailbot.store.holders import new_instance_id as n; print(n())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert holders.gone_here(child.stdout.strip())


def test_a_reused_pid_does_not_keep_a_dead_holder_alive() -> None:
    """Our own PID with another process start: a predecessor that had the same PID."""
    host, pid = socket.gethostname(), os.getpid()
    assert holders.gone_here(f"{host}:{pid}:{'0' * 12}.1:abcdef12")
    # An ID without a start marker and with our PID is a predecessor's too.
    assert holders.gone_here(f"{host}:{pid}:abcdef12")
    assert not holders.gone_here(f"{host}:{pid}:abcdef12", own_id=f"{host}:{pid}:abcdef12")


def test_holders_on_other_hosts_are_never_judged_here() -> None:
    assert not holders.gone_here("elsewhere.example:1:-:abcdef12")
    assert not holders.gone_here("elsewhere.example:999999:x.1:abcdef12")
    assert not holders.gone_here("garbage")
