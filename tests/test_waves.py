"""Issue 38: a sweep in waves. A 48-point sweep asked for 48 GPUs at once; with `maxConcurrent` the plan creates a
wave, queues the rest, counts the peak in its footprint, and `reconcile` creates each next point in the sweep's
point order as an earlier one finishes, never more than the width at once. End to end on the emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

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
    assert all("runs at most 4 point(s) at once (spec.maxConcurrent 4)" in i["reason"] for i in queued)
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


def test_a_width_in_gpus_counts_each_points_gpus(workdir: Path) -> None:
    wide = sweep(width=None)
    wide["spec"]["maxConcurrentGpus"] = 5
    wide["spec"]["template"]["resources"]["gpu"]["count"] = 2
    write_manifests(workdir / "runs" / "s.yaml", wide)
    planned = json.loads(run_cli("plan", "--format", "json").stdout)["plan"]
    assert [i["kind"] for i in planned["items"]].count("create") == 2  # 2 x 2 GPUs fit in 5, a third does not
    assert planned["footprint"]["change"] == {"A100": 4}
    queued = [i["reason"] for i in planned["items"] if i["kind"] == "waiting"]
    assert all("runs at most 5 GPU(s) at once (spec.maxConcurrentGpus 5)" in r for r in queued)
    ahead = sorted(int(m[1]) if (m := re.search(r"; (\d+) ahead of it", r)) else 0 for r in queued)
    assert ahead == list(range(10))  # each in its place in the point order


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


def early_stop_sweep() -> dict[str, Any]:
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "es", "version": "1", "project": "vision"},
            "spec": {"template": {"blueprint": {"name": "image-classifier", "version": "2.%"},
                                  "resources": {"cpu": "1", "memory": "1Gi"}, "config": classifier_config(epochs=200)},
                     "matrix": {"grid": {"config.learning_rate": [0.00001, 0.0001, 0.001, 0.003, 0.01]}},
                     "earlyStop": {"rule": "median", "metric": "train/loss", "mode": "min", "atSteps": [10],
                                   "minPoints": 3},
                     "promote": [{"model": {"name": "es-best", "version": "1.0.0"},
                                  "checkpoint": {"select": "best", "metric": "train/loss"}, "when": "available"}]}}


def test_a_median_rule_stops_exactly_the_points_it_names(workdir: Path, server: BackgroundServer,
                                                         clock: ManualClock) -> None:
    """Issue 38: no point was ever stopped early. At step 10 each point's train/loss is compared with the median of
    the others there; the worse ones are stopped (both numbers said), keep their checkpoints, and never win."""
    import asyncio
    import statistics

    from chariot_apply.backends.rest.client import AsyncChariotClient

    write_manifests(workdir / "runs" / "s.yaml", early_stop_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert "spec.earlyStop" not in run_cli("plan").stdout  # nobody is at step 10 yet
    clock.advance(START + 14)

    async def at_step_10() -> dict[str, float]:
        async with AsyncChariotClient(server.url) as client:
            values = {}
            for run in [r async for r in client.iter_runs()]:
                series = sorted((m.global_step, float(m.value)) for m in await client.get_all_metrics(run.id or "")
                                if m.tag == "train/loss" and m.value is not None)
                values[f"vision/{run.name}@1"] = [v for s, v in series if s <= 10][-1]
            return values

    values = asyncio.run(at_step_10())
    expected = sorted(a for a, v in values.items()
                      if v > statistics.median([w for b, w in values.items() if b != a]))
    assert 0 < len(expected) < 5
    planned = json.loads(run_cli("plan", "--format", "json").stdout)["plan"]["items"]
    stops = sorted(i["address"] for i in planned if i["kind"] == "stop")
    assert stops == expected
    reason = next(i["reason"] for i in planned if i["kind"] == "stop")
    assert re.search(r"train/loss [\d.]+ > median [\d.]+ of 5 points at step 10: stopped early", reason), reason
    done = json.loads(run_cli("reconcile", "--format", "json").stdout)["done"]
    assert sorted(o["address"] for o in done if o["kind"] == "stop") == expected
    promoted = [o["address"] for o in done if o["kind"] == "promote"]
    assert promoted and not set(promoted) & set(expected)  # a stopped point never wins
    clock.advance(60)
    again = json.loads(run_cli("reconcile", "--format", "json").stdout)["done"]
    assert not [o for o in again if o["kind"] == "stop"], again  # said once; stopped points stay stopped
    assert sum(1 for r in live_runs(server) if r.status == "job_terminated") == len(expected)


def test_the_early_stop_verdict_is_a_pure_function_of_the_metrics() -> None:
    from chariot_apply.manifest.model import EarlyStop
    from chariot_apply.plan.early_stop import verdict
    from chariot_apply.plan.harvest import Harvest

    def curve(*values: float) -> Harvest:
        return Harvest((), {(100 * (i + 1), "val/loss"): v for i, v in enumerate(values)})

    median = EarlyStop.model_validate({"metric": "val/loss", "atSteps": [100, 200], "minPoints": 3})
    others = [curve(0.5, 0.4), curve(0.6, 0.3), curve(0.7, 0.45)]
    found = verdict(median, curve(0.55, 0.9), others)
    assert found is not None and (found.step, found.value, found.against, found.points) == (200, 0.9, 0.4, 4)
    assert found.words() == "val/loss 0.9 > median 0.4 of 4 points at step 200"
    assert verdict(median, curve(0.55, 0.35), others) is None
    assert verdict(median, curve(0.9), others[:1]) is None  # 2 values at step 100: fewer than minPoints
    assert verdict(median, Harvest(), others) is None  # nothing logged yet
    threshold = EarlyStop.model_validate({"rule": "threshold", "metric": "val/loss", "mode": "min",
                                          "atSteps": [100], "threshold": 0.6})
    assert verdict(threshold, curve(0.65), []) is not None and verdict(threshold, curve(0.55), []) is None
    with pytest.raises(ValueError, match="needs a threshold"):
        EarlyStop.model_validate({"rule": "threshold", "metric": "val/loss", "atSteps": [100]})


def test_a_budget_that_would_refuse_the_sweep_clamps_its_wave_when_asked(workdir: Path,
                                                                        server: BackgroundServer) -> None:
    """Opt-in (`clampToBudget`): the team allows 6 A100 at once and 2 are in use by another run of ours; the
    12-point sweep runs 4 at a time instead of being refused, and the plan says why."""
    from tests.factories import manifest

    (workdir / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n"
                                                "policy: {maxConcurrentGpus: {A100: 6}}\n")
    other = manifest("other", resources_={"cpu": "1", "memory": "1Gi", "gpu": {"type": "A100", "count": 2}},
                     limits={"maxDuration": "2h"}, config=classifier_config(epochs=200))
    write_manifests(workdir / "runs" / "o.yaml", other)
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(workdir / "runs" / "s.yaml", sweep(width=None))
    plain = run_cli("plan")
    assert plain.exit_code == 1 and "policy.maxConcurrentGpus" in plain.stdout  # refused as it stands
    clamped = sweep(width=None)
    clamped["spec"]["clampToBudget"] = True
    write_manifests(workdir / "runs" / "s.yaml", clamped)
    result = run_cli("plan", "--format", "json")
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["plan"]
    assert [i["kind"] for i in planned["items"]].count("create") == 4
    assert planned["footprint"]["after"] == {"A100": 6}
    queued = [i["reason"] for i in planned["items"] if i["kind"] == "waiting"]
    assert len(queued) == 8 and all("spec.clampToBudget: policy.maxConcurrentGpus A100 6, 2 in use elsewhere" in r
                                    for r in queued), queued[:1]
