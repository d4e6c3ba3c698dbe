"""The benchmark command runs end to end and reports every figure the performance issue names.

No timing thresholds: machines differ. What is pinned down is the command line, the JSON keys,
and that the scan it times decided every message as expected (the run exits non-zero if not).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "first_scan_s",
    "first_scan_process_s",
    "first_scan_peak_rss_mb",
    "raw_limit_s",
    "naive_s",
    "naive_peak_rss_mb",
    "idle_poll_ms_10k",
    "idle_poll_ms_100k",
    "idle_poll_ms_per_mailbox_100",
    "push_latency_ms",
    "pipeline_msgs_per_s",
    "failover_s",
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    """``python benchmarks/run.py --quick --json OUT`` writes a positive number for each key."""
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    for key in KEYS:
        assert isinstance(figures[key], (int, float)), key
        assert figures[key] > 0, key
    scan = figures["details"]["first_scan"]
    assert scan["verdict_mismatches"] == 0
    assert scan["decided"] == figures["details"]["messages"]
    # run --once as its own process decided the same messages and wrote its digest.
    process = figures["details"]["first_scan_process"]
    assert process["decided"] == scan["decided"] and process["clients"] == scan["clients"]
    assert process["digests"] == 1


def test_quick_dashboard_benchmark_reports_server_time_for_each_request(tmp_path: Path) -> None:
    """``python benchmarks/dashboard.py --quick --json OUT``: p50 and p95 for every request."""
    out = tmp_path / "dashboard.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dashboard.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["clients"] == 1_000 and figures["history"] == 5_000
    for name in ("clients_page_filter", "clients_page_deep", "clients_page_accountant",
                 "api_list", "api_list_all_matches"):  # fmt: skip
        row = figures[name]
        assert 0 < row["server_p50_ms"] <= row["server_p95_ms"] <= row["round_trip_p95_ms"], name
