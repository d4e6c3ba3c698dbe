"""The dashboard under a firm-sized registry: 10,000 clients and 50,000 history rows.

    python benchmarks/dashboard.py [--clients N] [--history N] [--requests N]
                                   [--postgres URL] [--json OUT] [--quick]

Seeds a fresh database (SQLite in a temporary folder, or the PostgreSQL database at
``--postgres``, whose tables are dropped first), serves the dashboard with uvicorn on loopback
exactly as ``acchub-mailbot web`` does, signs in over HTTP, and sends each request below
``--requests`` times in turn. The figure is the server's own time from its ``Server-Timing``
header (p50 and p95, ms); the round trip seen by the client is reported beside it. Target:
p95 under 100 ms for the Clients page with a filter and for the API list.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from acchub_mailbot.app import accounts  # noqa: E402 - needs the path set above
from acchub_mailbot.app.runtime import App  # noqa: E402
from acchub_mailbot.config import parse_settings  # noqa: E402
from acchub_mailbot.store.database import make_engine  # noqa: E402
from acchub_mailbot.store.models import Client, ClientHistory, ClientOwner  # noqa: E402
from acchub_mailbot.web.serve import BackgroundWeb  # noqa: E402
from tests.servers.dovecot import free_port  # noqa: E402

ADMIN = ("admin@firm.example", "benchmark admin passphrase")
ACCOUNTANTS = [f"accountant{n:02d}@firm.example" for n in range(20)]
PASSWORD = "benchmark accountant passphrase"  # noqa: S105 - a throwaway account's
STATUSES = ["registered"] * 12 + ["pending_verification"] * 2 + ["needs_review", "archived"] * 2
OUTCOMES = ["verified"] * 6 + ["unreachable", "failed", None, None]
TARGET_MS = 100.0


def seed(database_url: str, clients: int, history: int) -> None:
    """Rows written in bulk, as years of use would leave them."""
    rng = random.Random(20261208)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            rows, owners, events = [], [], []
            for n in range(1, clients + 1):
                created = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
                outcome = rng.choice(OUTCOMES)
                rows.append({
                    "id": n, "name": f"Company {n:05d} {rng.choice(['Ltd', 'GmbH', 'SARL'])}",
                    "client_url": f"https://businesscentral.dynamics.com/t{n:05d}.onmicrosoft.com",
                    "tenant": f"t{n:05d}.onmicrosoft.com", "status": rng.choice(STATUSES),
                    "access_link": f"https://businesscentral.dynamics.com/t{n:05d}?signup={n}",
                    "access_accepted": rng.random() < 0.5, "edited_fields": {},
                    "verification_outcome": outcome, "verification_attempts": 1,
                    "verified_at": created + timedelta(minutes=5) if outcome else None,
                    "created_at": created, "updated_at": created, "mailbox": "invites",
                })  # fmt: skip
                for address in rng.sample(ACCOUNTANTS, 1 if rng.random() < 0.9 else 2):
                    owners.append({"client_id": n, "address": address, "first_seen_at": created})
            for n in range(history):
                client = rows[n % clients]
                events.append({
                    "client_id": client["id"], "actor": "poller", "action": "updated",
                    "changes": {"status": client["status"]},
                    "at": client["created_at"] + timedelta(hours=n // clients),
                })  # fmt: skip
            for table, batch in ((Client, rows), (ClientOwner, owners), (ClientHistory, events)):
                for i in range(0, len(batch), 5000):
                    connection.execute(insert(table), batch[i : i + 5000])
    finally:
        engine.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def sign_in(base: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = client.get("/login").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    reply = client.post("/login", data={"csrf": token, "email": email, "password": password})
    if reply.status_code != 303:
        raise SystemExit(f"sign-in as {email} failed: {reply.status_code}")
    return client


def measure(client: httpx.Client, path: str, params: dict[str, str], count: int) -> dict[str, Any]:
    server, wall = [], []
    client.get(path, params=params)  # warm: templates compiled, pool filled
    for _ in range(count):
        started = time.perf_counter()
        reply = client.get(path, params=params)
        wall.append((time.perf_counter() - started) * 1000)
        if reply.status_code != 200:
            raise SystemExit(f"{path} {params}: {reply.status_code}")
        server.append(float(reply.headers["server-timing"].split("dur=")[1]))
    return {
        "path": path, "params": params,
        "server_p50_ms": round(statistics.median(server), 2),
        "server_p95_ms": round(percentile(server, 0.95), 2),
        "round_trip_p50_ms": round(statistics.median(wall), 2),
        "round_trip_p95_ms": round(percentile(wall, 0.95), 2),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL to use (its tables are dropped)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="1,000 clients, 30 requests each")
    options = parser.parse_args(argv)
    if options.quick:
        options.clients, options.history, options.requests = 1_000, 5_000, 30
    with tempfile.TemporaryDirectory() as folder:
        url = options.postgres or f"sqlite:///{folder}/dashboard.db"
        if options.postgres:
            engine = make_engine(url)
            meta = MetaData()
            meta.reflect(engine)
            meta.drop_all(engine)
            engine.dispose()
        app = App.open(parse_settings({"database": {"url": url}}, environ={}))
        started = time.perf_counter()
        seed(url, options.clients, options.history)
        seeded = time.perf_counter() - started
        print(f"seeded {options.clients} clients, {options.history} history rows in {seeded:.1f}s")
        accounts.add_user(app, ADMIN[0], "admin", ADMIN[1])
        accounts.add_user(app, ACCOUNTANTS[0], "accountant", PASSWORD)
        port = free_port()
        web = BackgroundWeb(app, "127.0.0.1", port)
        if not web.start():
            raise SystemExit("uvicorn did not start")
        base = f"http://127.0.0.1:{port}"
        try:
            admin = sign_in(base, *ADMIN)
            accountant = sign_in(base, ACCOUNTANTS[0], PASSWORD)
            filtered = {"status": "registered", "q": "Company 04", "sort": "name"}
            deep = {"status": "registered", "test": "verified", "page": "20"}
            cases = {
                "clients_page_filter": (admin, "/clients", filtered),
                "clients_page_deep": (admin, "/clients", deep),
                "clients_page_accountant": (accountant, "/clients", {"accepted": "no"}),
                "api_list": (admin, "/api/clients", {"status": "registered", "page": "1"}),
                "api_list_all_matches": (admin, "/api/clients", {"status": "needs_review"}),
            }
            figures: dict[str, Any] = {
                "clients": options.clients, "history": options.history,
                "requests": options.requests, "database": url.split(":")[0],
            }  # fmt: skip
            for name, (client, path, params) in cases.items():
                figures[name] = measure(client, path, params, options.requests)
            admin.close()
            accountant.close()
        finally:
            web.stop()
            app.close()
    print(f"{'request':<26} {'server p50':>11} {'server p95':>11} {'round trip p95':>15}")
    for name in cases:
        row = figures[name]
        print(f"{name:<26} {row['server_p50_ms']:>9.1f}ms {row['server_p95_ms']:>9.1f}ms "
              f"{row['round_trip_p95_ms']:>13.1f}ms")  # fmt: skip
    for name in ("clients_page_filter", "api_list"):
        verdict = "met" if figures[name]["server_p95_ms"] < TARGET_MS else "MISSED"
        print(f"target p95 < {TARGET_MS:.0f} ms for {name}: {verdict}")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
