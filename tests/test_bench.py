"""The benchmark still runs end to end (at a tiny size) and reports every figure the performance issue asks for.
Nothing here looks at how long anything took."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "plan_bench.py"
FIGURES = {"plan_cold_s", "plan_warm_s", "plan_floor_s", "plan_requests", "plan_min_requests", "apply_s",
           "apply_floor_s", "apply_cpu_ms_per_create", "apply_cpu_ms_per_request", "apply_server_cpu_s", "naive_s",
           "cli_plan_s", "cli_help_s", "prune_plan_s", "peak_rss_mb", "history_plan_s_1000", "history_plan_s_1200",
           "history_ratio", "footprint_s", "footprint_share"}


@pytest.mark.slow
def test_the_bench_runs_and_reports_every_figure() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--declared", "12", "--live", "40", "--naive-runs", "2",
                           "--latency-ms", "1", "--prune-live", "60", "--history-live", "1200", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == FIGURES
    assert figures["plan_requests"] >= figures["plan_min_requests"] > 0
    assert 0 < figures["footprint_s"] < figures["plan_warm_s"]
    assert "after apply, a new plan has 0 changes" in done.stdout  # the apply converged
