"""The tool on runs shaped as real blueprints make them (issue 21): null metric values, tags with ``/`` and
``()``, several progress operations, runs that wait for GPUs or failed; through the CLI on a loopback emulator."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from chariot_apply.emulator.catalog import GpuSeed
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, manifest, write_manifests

START = 6
OBB = {"datasets": {"train_data": [{"snapshot_id": "s1"}], "val_data": None}, "epochs": 1}


def test_null_values_and_tags_with_slashes_and_parentheses(workdir: Path, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml",
                    manifest("obb", blueprint="yolo-obb", blueprint_version=None, config=OBB),
                    manifest("diverged", config=classifier_config(epochs=2, learning_rate=0.5)))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 21)
    tag = "metrics/mAP50(B)"
    as_json = json.loads(run_cli("metrics", "vision/obb@1.0.0", "--tag", tag, "--format", "json").stdout)
    assert [m["tag"] for m in as_json] == [tag] and isinstance(as_json[0]["value"], float)
    rows = list(csv.DictReader(io.StringIO(run_cli("metrics", "vision/obb@1.0.0", "--format", "csv").stdout)))
    assert {r["tag"] for r in rows} >= {tag, "s1/val/person_AP_IOU0.5", "train/loss"}
    assert [r["value"] for r in rows if r["tag"] == "s1/val/person_AP_IOU0.5"] == [""]  # null: an empty cell
    nulls = json.loads(run_cli("metrics", "vision/diverged@1.0.0", "--tag", "train/loss", "--format", "json").stdout)
    last = max(nulls, key=lambda m: m["global_step"])
    assert last["value"] is None and all(m["value"] is not None for m in nulls if m is not last)
    plot = run_cli("metrics", "vision/diverged@1.0.0", "--plot")
    assert plot.exit_code == 0, plot.output
    status = run_cli("status")
    assert status.exit_code == 0 and "job_failed: training diverged" in status.stdout
    assert "train/loss=null" in status.stdout


def test_a_run_waiting_for_gpus_says_why_in_status(workdir: Path, clock: ManualClock, store: EmulatorStore) -> None:
    store.set_gpus([GpuSeed(type="A100", count=1)])
    gpu = {"cpu": "1", "memory": "2Gi", "gpu": {"type": "A100", "count": 1}}
    write_manifests(workdir / "runs" / "a.yaml", manifest("first", resources_=gpu,
                                                          config=classifier_config(epochs=3)))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(2)
    write_manifests(workdir / "runs" / "a.yaml", manifest("first", resources_=gpu, config=classifier_config(epochs=3)),
                    manifest("second", resources_=gpu))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 1)
    status = run_cli("status").stdout
    line = next(x for x in status.splitlines() if x.startswith("vision/second@1.0.0"))
    assert "job_pending: waiting for 1 x A100 GPUs: 0 of 1 free" in line
    clock.advance(27.1)  # the first has done its last step (at 36 s) and is in its last validation pass
    evaluating = next(x for x in run_cli("status").stdout.splitlines() if x.startswith("vision/first@1.0.0"))
    assert "30/30 steps, Evaluating" in evaluating
    clock.advance(60)
    assert all("job_completed" in x for x in run_cli("status").stdout.splitlines()[1:])
