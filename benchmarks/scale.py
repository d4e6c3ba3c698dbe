"""Scale mode: a thousand mailboxes with IDLE on one instance, then shared by three instances.

    python benchmarks/run.py --scale 1000 [--postgres URL] [--soak SECONDS] [--json OUT]

One Dovecot holds every mailbox. The instance is ``acchub-mailbot run`` as an operator starts
it, with ``poll.idle: true`` and every other setting at its default. Appends go to random
mailboxes at a steady rate; each is an invitation with a tenant of its own, so each appended
message is counted where the user sees it: one client, one processed message, one event.

The three-instance run does the same on PostgreSQL and also reports each instance's share of
the mailboxes, which must be within one of a third.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import procstats

PASSWORD_ENV = "ACCHUB_SCALE_PW"  # noqa: S105 - a variable name, not a secret
#: Appends per second while measuring push latency, and for how long.
RATE = 5.0
PUSH_SECONDS = 60.0
#: How long nothing arrives while the instance's CPU is measured.
IDLE_SECONDS = 30.0
STARTUP_TIMEOUT = 240.0


def _log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Mailbox:
    name: str
    username: str
    password: str


@dataclass
class Deployment:
    """The instances of one run and what they share."""

    label: str
    database_url: str
    mailboxes: list[Mailbox]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    samples: list[dict[str, float]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def log_tails(self, lines: int = 25) -> str:
        return "\n".join(
            f"--- {log.name} ---\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in self.logs
            if log.exists()
        )


def _config(server: Any, deployment: Deployment, workdir: Path) -> tuple[Path, dict[str, str]]:
    environ: dict[str, str] = {}
    entries = []
    for box in deployment.mailboxes:
        variable = f"{PASSWORD_ENV}_{box.name.upper()}"
        environ[variable] = box.password
        entries.append(
            {
                "name": box.name,
                "imap": {
                    "host": server.host,
                    "port": server.port,
                    "security": "starttls",
                    "username": box.username,
                    "password_env": variable,
                    "ca_file": str(server.ca_file),
                },
                "digest_to": ["ops@scale.example"],
            }
        )
    data = {
        "database": {"url": deployment.database_url},
        "mailboxes": entries,
        "poll": {"idle": True},
        "verification": {"live_check": False},
        "digest": {"schedule": "immediate", "output_dir": str(workdir / "digests")},
    }
    config = workdir / "config.yaml"
    config.write_text(json.dumps(data), encoding="utf-8")
    config.chmod(0o600)
    return config, environ


def _engine(url: str) -> Any:
    from acchub_mailbot.store.database import make_engine

    return make_engine(url)


def _scalar(engine: Any, statement: Any) -> int:
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            return int(connection.scalar(statement) or 0)
    except DBAPIError:
        return 0  # the tables are not there yet


def _polled(engine: Any) -> int:
    from sqlalchemy import func, select

    from acchub_mailbot.store.models import MailboxState

    return _scalar(
        engine,
        select(func.count())
        .select_from(MailboxState)
        .where(MailboxState.last_success_at.is_not(None)),
    )


def _shares(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from acchub_mailbot.store.models import Lease, utcnow

    with engine.connect() as connection:
        rows = connection.execute(
            select(Lease.holder, func.count())
            .where(Lease.expires_at > utcnow())
            .group_by(Lease.holder)
        ).all()
    return {holder: int(count) for holder, count in rows}


def _counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from acchub_mailbot.store.models import Client, Event, ProcessedMessage

    return {
        "clients": _scalar(engine, select(func.count()).select_from(Client)),
        "distinct_tenants": _scalar(engine, select(func.count(func.distinct(Client.tenant)))),
        "messages": _scalar(engine, select(func.count()).select_from(ProcessedMessage)),
        "events": _scalar(engine, select(func.count()).select_from(Event)),
    }


def _registered_at(engine: Any) -> dict[str, float]:
    from sqlalchemy import select

    from acchub_mailbot.store.models import Client

    with engine.connect() as connection:
        rows = connection.execute(select(Client.tenant, Client.created_at)).all()
    found = {}
    for tenant, created in rows:
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        found[str(tenant)] = created.timestamp()
    return found


def _wait(predicate: Any, timeout: float, what: str, deployment: Deployment) -> float:
    started = time.monotonic()
    while not predicate():
        for process in deployment.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"an instance exited ({process.returncode}) while {what}\n"
                    + deployment.log_tails()
                )
        if time.monotonic() - started > timeout:
            raise RuntimeError(
                f"timed out after {timeout:.0f} s waiting for {what}\n" + deployment.log_tails()
            )
        time.sleep(0.25)
    return time.monotonic() - started


class Sampler(threading.Thread):
    """Samples every instance once a second: memory, threads, IMAP connections."""

    def __init__(self, deployment: Deployment, port: int) -> None:
        super().__init__(daemon=True)
        self.deployment, self.port = deployment, port
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            for index, process in enumerate(self.deployment.processes):
                self.deployment.samples.append(
                    {
                        "instance": index,
                        "at": time.monotonic(),
                        "rss_mb": procstats.rss_mb(process.pid),
                        "threads": procstats.threads(process.pid),
                        "connections": procstats.connections_to(process.pid, self.port),
                    }
                )


def _append(server: Any, box: Mailbox, raw: bytes) -> float:
    """APPEND as the mailbox's owner; returns the wall time the command was sent."""
    account = server.account(box.username)
    with account.client() as client:
        sent = time.time()
        client.append("INBOX", raw)
    return sent


def _push(
    server: Any, deployment: Deployment, *, seconds: float, rate: float, seed: int, tag: str
) -> dict[str, float]:
    """Appends at ``rate`` per second to random mailboxes; tenant -> wall time of the APPEND."""
    from tests.mailfactory import invitation

    chooser = random.Random(seed)
    sent: dict[str, float] = {}
    started = time.monotonic()
    for k in range(int(seconds * rate)):
        due = started + k / rate
        time.sleep(max(0.0, due - time.monotonic()))
        box = chooser.choice(deployment.mailboxes)
        tenant = f"{tag}-{k}.onmicrosoft.com"
        raw = invitation(
            tenant=tenant, company=f"Scale Client {k}", message_id=f"<{tag}-{k}@scale.example>"
        )
        sent[tenant] = _append(server, box, raw)
    return sent


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def _instances(
    config: Path, environ: dict[str, str], deployment: Deployment, count: int, workdir: Path
) -> Iterator[None]:
    env = {**os.environ, **environ}
    try:
        for n in range(count):
            path = workdir / f"instance-{n}.log"
            deployment.logs.append(path)
            log = path.open("ab")
            deployment.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "acchub_mailbot", "run", "--config", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        yield
    finally:
        for process in deployment.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in deployment.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(
    server: Any,
    deployment: Deployment,
    workdir: Path,
    *,
    instances: int,
    soak_seconds: float,
    push_seconds: float = PUSH_SECONDS,
    idle_seconds: float = IDLE_SECONDS,
) -> dict[str, Any]:
    """One deployment from start to stop; its figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, environ = _config(server, deployment, workdir)
    engine = _engine(deployment.database_url)
    n = len(deployment.mailboxes)
    figures: dict[str, Any] = {"mailboxes": n, "instances": instances}
    sampler = Sampler(deployment, server.port)
    try:
        with _instances(config, environ, deployment, instances, workdir):
            sampler.start()
            _log(f"{deployment.label}: {instances} instance(s) starting on {n} mailboxes")
            figures["startup_s"] = _wait(
                lambda: _polled(engine) >= n, STARTUP_TIMEOUT, "every mailbox polled", deployment
            )
            _log(f"{deployment.label}: every mailbox polled after {figures['startup_s']:.1f} s")
            if instances > 1:

                def fair() -> bool:
                    shares = _shares(engine)
                    return (
                        len(shares) == instances
                        and sum(shares.values()) == n
                        and all(abs(count - n / instances) <= 1 for count in shares.values())
                    )

                figures["balanced_s"] = figures["startup_s"] + _wait(
                    fair, STARTUP_TIMEOUT, "the mailboxes spread fairly", deployment
                )

            def all_idle() -> bool:
                return sum(_idle_connections(deployment, server.port)) >= 2 * n

            figures["idle_ready_s"] = figures["startup_s"] + _wait(
                all_idle, STARTUP_TIMEOUT, "an IDLE connection for every mailbox", deployment
            )
            _log(f"{deployment.label}: all IDLE after {figures['idle_ready_s']:.1f} s")
            figures["shares"] = sorted(_shares(engine).values())
            figures["imap_connections"] = sum(_idle_connections(deployment, server.port))
            time.sleep(5)
            meters = [procstats.CpuMeter(p.pid) for p in deployment.processes]
            for meter in meters:
                meter.start(time.monotonic())
            time.sleep(idle_seconds)
            figures["idle_cpu_pct"] = [round(m.percent(time.monotonic()), 2) for m in meters]
            _log(f"{deployment.label}: idle CPU {figures['idle_cpu_pct']} %")

            tag = f"{deployment.label}-{uuid.uuid4().hex[:6]}"
            sent = _push(server, deployment, seconds=push_seconds, rate=RATE, seed=7, tag=tag)
            _wait(
                lambda: len(_registered_at(engine)) >= len(sent),
                60,
                "every pushed invitation registered",
                deployment,
            )
            registered = _registered_at(engine)
            latencies = [1000 * (registered[t] - sent[t]) for t in sent if t in registered]
            figures["appended"] = len(sent)
            figures["push_p50_ms"] = round(_percentile(latencies, 0.5), 1)
            figures["push_p95_ms"] = round(_percentile(latencies, 0.95), 1)
            figures["push_max_ms"] = round(max(latencies), 1)
            _log(
                f"{deployment.label}: push p50 {figures['push_p50_ms']} ms, "
                f"p95 {figures['push_p95_ms']} ms"
            )
            if soak_seconds:
                start = _snapshot(deployment)
                _log(f"{deployment.label}: soak for {soak_seconds:.0f} s")
                soaked = _push(
                    server, deployment, seconds=soak_seconds, rate=1.0, seed=11, tag=tag + "-soak"
                )
                sent.update(soaked)
                _wait(lambda: len(_registered_at(engine)) >= len(sent), 60, "the soak", deployment)
                figures["soak"] = {
                    "seconds": soak_seconds,
                    "start": start,
                    "end": _snapshot(deployment),
                }
            counts = _counts(engine)
            figures["counts"] = counts
            figures["lost"] = len(sent) - counts["distinct_tenants"]
            figures["duplicated"] = (
                (counts["clients"] - counts["distinct_tenants"])
                + (counts["messages"] - len(sent))
                + (counts["events"] - len(sent))
            )
            figures["peak_rss_mb"] = [
                round(procstats.peak_rss_mb(p.pid), 1) for p in deployment.processes
            ]
    finally:
        sampler.halt.set()
        sampler.join(5)
        engine.dispose()
    figures["exit_codes"] = [p.returncode for p in deployment.processes]
    figures["threads"] = [
        max((s["threads"] for s in deployment.samples if s["instance"] == i), default=0)
        for i in range(instances)
    ]
    figures["peak_connections"] = [
        max((s["connections"] for s in deployment.samples if s["instance"] == i), default=0)
        for i in range(instances)
    ]
    return figures


def _idle_connections(deployment: Deployment, port: int) -> list[int]:
    return [procstats.connections_to(p.pid, port) for p in deployment.processes]


def _snapshot(deployment: Deployment) -> dict[str, list[float]]:
    return {
        "rss_mb": [round(procstats.rss_mb(p.pid), 1) for p in deployment.processes],
        "threads": [procstats.threads(p.pid) for p in deployment.processes],
    }


#: The figures the issue names, from the one-instance run (lists hold one value per instance).
KEYS = (
    "scale_mailboxes",
    "scale_rss_mb",
    "scale_threads",
    "scale_imap_connections",
    "scale_push_p50_ms",
    "scale_push_p95_ms",
    "scale_idle_cpu_pct",
    "scale_startup_s",
)
TARGETS = {
    "scale_push_p95_ms": 2000.0,
    "scale_idle_cpu_pct": 5.0,
    "scale_rss_mb": 400.0,
    "scale_startup_s": 60.0,
}


def _users(server: Any, prefix: str, n: int) -> list[Mailbox]:
    boxes = []
    for i in range(n):
        username = f"{prefix}{i:04d}"
        password = f"pw-{uuid.uuid4().hex}"
        server.add_user(username, password)
        boxes.append(Mailbox(name=f"mb{i:04d}", username=username, password=password))
    return boxes


def run_scale(
    n: int, *, workdir: Path, postgres_url: str | None, soak_seconds: float
) -> dict[str, Any]:
    """Both runs against one Dovecot; the figures, flat for the JSON."""
    from tests.servers.dovecot import DovecotServer

    results: dict[str, Any] = {}
    # Three instances may briefly hold a handed-over mailbox's connections twice over.
    with DovecotServer(workdir / "dovecot", max_connections=3 * n + 100) as server:
        _log(f"creating {n} Dovecot users")
        (workdir / "one").mkdir(parents=True, exist_ok=True)
        database = f"sqlite:///{workdir / 'one' / 'acchub.db'}"
        one = Deployment("one", database, _users(server, "s1u", n))
        single = measure(server, one, workdir / "one", instances=1, soak_seconds=soak_seconds)
        results.update(
            {
                "scale_mailboxes": n,
                "scale_rss_mb": single["peak_rss_mb"][0],
                "scale_threads": single["threads"][0],
                "scale_imap_connections": single["imap_connections"],
                "scale_push_p50_ms": single["push_p50_ms"],
                "scale_push_p95_ms": single["push_p95_ms"],
                "scale_idle_cpu_pct": single["idle_cpu_pct"][0],
                "scale_startup_s": round(single["startup_s"], 1),
                "scale_one": single,
            }
        )
        if postgres_url:
            from tests.servers.postgres import temporary_database

            with temporary_database(postgres_url, prefix="acchub_scale") as url:
                three = Deployment("three", url, _users(server, "s3u", n))
                results["scale_three"] = measure(
                    server, three, workdir / "three", instances=3, soak_seconds=0
                )
    return results


def verdicts(results: dict[str, Any]) -> list[str]:
    """What missed its target, in words; empty when everything held."""
    missed = [
        f"{key} = {results[key]} (target < {target})"
        for key, target in TARGETS.items()
        if results[key] >= target
    ]
    for label in ("scale_one", "scale_three"):
        run = results.get(label)
        if run is None:
            continue
        if run["lost"] or run["duplicated"]:
            missed.append(f"{label}: {run['lost']} lost, {run['duplicated']} duplicated")
        if any(code != 0 for code in run["exit_codes"]):
            missed.append(f"{label}: exit codes {run['exit_codes']}")
        if any(abs(n - run["mailboxes"] / run["instances"]) > 1 for n in run["shares"]):
            missed.append(f"{label}: shares {run['shares']} not within one of a fair share")
        if run["imap_connections"] > 2 * run["mailboxes"]:
            missed.append(f"{label}: {run['imap_connections']} IMAP connections")
    return missed


def print_table(results: dict[str, Any]) -> None:
    print(f"acchub-mailbot scale run: {results['scale_mailboxes']} mailboxes, IDLE on")
    print(f"{'figure':28} {'value':>12} {'target':>10}")
    for key in KEYS:
        target = TARGETS.get(key)
        print(f"{key:28} {results[key]:12} {'< ' + str(target) if target else '':>10}")
    for label in ("scale_one", "scale_three"):
        run = results.get(label)
        if run is None:
            continue
        print(
            f"{label}: {run['instances']} instance(s); shares {run['shares']}; "
            f"peak RSS {run['peak_rss_mb']} MB; threads {run['threads']}; "
            f"idle CPU {run['idle_cpu_pct']} %; IMAP connections {run['imap_connections']} "
            f"(peak per instance {run['peak_connections']}); start-up {run['startup_s']:.1f} s"
            + (f", spread fairly after {run['balanced_s']:.1f} s" if "balanced_s" in run else "")
        )
        print(
            f"  push p50 {run['push_p50_ms']} ms, p95 {run['push_p95_ms']} ms, max "
            f"{run['push_max_ms']} ms over {run['appended']} appends; counted {run['counts']}: "
            f"{run['lost']} lost, {run['duplicated']} duplicated"
        )
        if "soak" in run:
            soak = run["soak"]
            print(
                f"  soak {soak['seconds']:.0f} s: RSS {soak['start']['rss_mb']} -> "
                f"{soak['end']['rss_mb']} MB, threads {soak['start']['threads']} -> "
                f"{soak['end']['threads']}"
            )
    for line in verdicts(results):
        print(f"MISSED: {line}")
