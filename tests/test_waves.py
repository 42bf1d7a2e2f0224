"""Issue 38: a sweep in waves. A 48-point sweep asked for 48 GPUs at once; with `maxConcurrent` the plan creates a
wave, queues the rest, counts the peak in its footprint, and `reconcile` creates each next point in the sweep's
point order as an earlier one finishes, never more than the width at once. End to end on the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.plan.model import phase_of
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, write_manifests

RATES = [0.0001 * (i + 1) for i in range(12)]


def sweep(width: int | None = 4) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {"blueprint": {"name": "image-classifier", "version": "2.%"},
                     "resources": {"cpu": "1", "memory": "1Gi", "gpu": {"type": "A100", "count": 1}},
                     "limits": {"maxDuration": "2h"}, "config": classifier_config(epochs=2)},
        "matrix": {"grid": {"config.learning_rate": RATES}}}
    if width is not None:
        spec["maxConcurrent"] = width
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "lr", "version": "1", "project": "vision"}, "spec": spec}


def test_a_twelve_point_sweep_runs_in_waves_of_four_and_finishes_them_all(workdir: Path, server: BackgroundServer,
                                                                         clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "s.yaml", sweep())
    planned = json.loads(run_cli("plan", "--format", "json").stdout)["plan"]
    kinds = [i["kind"] for i in planned["items"]]
    assert kinds.count("create") == 4 and kinds.count("waiting") == 8
    assert planned["footprint"]["change"] == {"A100": 4}  # the peak, not the sum
    queued = [i for i in planned["items"] if i["kind"] == "waiting"]
    assert all("runs at most 4 point(s) at once (spec.maxConcurrent)" in i["reason"] for i in queued)
    first = [i["address"] for i in planned["items"] if i["kind"] == "create"]
    everyone = [i["address"] for i in planned["items"]]
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert sorted(f"vision/{r.name}@{r.version}" for r in live_runs(server)) == sorted(first)
    created_in_order: list[str] = []
    for _ in range(40):
        clock.advance(7)
        done = run_cli("reconcile", "--format", "json")
        assert done.exit_code == 0, done.output
        created_in_order += [o["address"] for o in json.loads(done.stdout)["done"] if o["kind"] == "create"]
        active = [r for r in live_runs(server) if phase_of(r.status) == "active"]
        assert len(active) <= 4, [r.status for r in active]
        if len(live_runs(server)) == 12 and not active:
            break
    runs = live_runs(server)
    assert len(runs) == 12 and all(r.status == "job_completed" for r in runs), [r.status for r in runs]
    later = [a for a in everyone if a not in first]
    assert created_in_order == [a for a in later if a in created_in_order] and sorted(created_in_order) == \
        sorted(later)  # each in the sweep's point order, each once
    assert "0 to create" in json.loads(run_cli("plan", "--format", "json").stdout)["summary"]


def test_without_a_width_a_sweep_creates_every_point_at_once(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "s.yaml", sweep(width=None))
    planned = json.loads(run_cli("plan", "--format", "json").stdout)["plan"]
    assert [i["kind"] for i in planned["items"]].count("create") == 12


def test_the_points_after_the_first_wave_are_lifecycle_creates(workdir: Path, server: BackgroundServer,
                                                             clock: ManualClock) -> None:
    """The first wave is the reviewed change; the next points are what its rule calls for as points finish."""
    write_manifests(workdir / "runs" / "s.yaml", sweep(width=2))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 60)
    text = run_cli("plan").stdout
    assert "rule: sweep lr: spec.maxConcurrent 2, the next point as an earlier one finishes" in text, text
    assert "Lifecycle: 2 to create" in text and "Plan: 0 to create" in text
