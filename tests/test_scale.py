"""Declaring at scale: sweeps, shared defaults, variables, render, export/import, the blueprint lock, and the
platform checks (task types, GPU types). Through the real CLI against the loopback emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.catalog import BlueprintSeed, Catalog
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.manifest.errors import ManifestError
from chariot_apply.manifest.loader import load_manifests
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, live_runs, manifest, new_run, write_manifests


def sweep(name: str = "lr-sweep", grid: dict[str, list[Any]] | None = None, **spec: Any) -> dict[str, Any]:
    template = manifest("unused")["spec"]
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": name, "version": "1", "project": "vision"},
            "spec": {"template": template, "matrix": {"grid": grid or {}} | spec.pop("matrix", {})} | spec}


GRID = {"config.learning_rate": [0.001, 0.01, 0.1], "config.batch_size": [16, 32, 64, 128]}


def names(path: Path, **kwargs: Any) -> list[str]:
    return sorted(r.name for r in load_manifests([path], "vision", **kwargs))


def test_a_grid_with_include_and_exclude_makes_exactly_these_runs(tmp_path: Path) -> None:
    path = write_manifests(tmp_path / "s.yaml", sweep(grid=GRID, matrix={
        "include": [{"config.learning_rate": 0.5, "config.batch_size": 8}],
        "exclude": [{"config.learning_rate": 0.1, "config.batch_size": 128}, {"config.batch_size": 16}]}))
    expected = [f"lr-sweep-bs{bs}-lr{lr}" for lr in (0.001, 0.01, 0.1) for bs in (32, 64, 128)
                if (lr, bs) != (0.1, 128)] + ["lr-sweep-bs8-lr0.5"]
    assert names(path) == sorted(expected)
    run = next(r for r in load_manifests([path], "vision") if r.name == "lr-sweep-bs64-lr0.01")
    assert run.spec.config == classifier_config(learning_rate=0.01, batch_size=64)
    assert run.manifest.metadata.sweep is not None and run.manifest.metadata.sweep.point == "bs64-lr0.01"


def test_names_are_stable_when_the_grid_grows_or_is_reordered(tmp_path: Path) -> None:
    before = names(write_manifests(tmp_path / "a.yaml", sweep(grid=GRID)))
    reordered = {k: list(reversed(v)) for k, v in reversed(list(GRID.items()))}
    grown = reordered | {"config.learning_rate": [0.0001, *reordered["config.learning_rate"]]}
    after = names(write_manifests(tmp_path / "b.yaml", sweep(grid=grown)))
    assert set(before) < set(after) and len(after) - len(before) == 4


def test_adding_a_value_plans_only_the_new_points(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "s.yaml"
    write_manifests(path, sweep(grid={"config.learning_rate": [0.001, 0.01]}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    runs = live_runs(server)
    assert "sweep=lr-sweep point=lr0.001" in next(r.notes or "" for r in runs if r.name == "lr-sweep-lr0.001")
    write_manifests(path, sweep(grid={"config.learning_rate": [0.001, 0.01, 0.1]}))
    plan = run_cli("plan")
    assert "Plan: 1 to create, 0 to replace, 0 to stop, 0 to delete; 2 unchanged." in plan.stdout
    assert '+ run "vision/lr-sweep-lr0.1@1"' in plan.stdout
    write_manifests(path, sweep(grid={"config.learning_rate": [0.01]}))  # a point removed: shown, pruned
    assert "vision/lr-sweep-lr0.001@1: not declared: deleted with --prune" in run_cli("plan").stdout


def test_the_point_cap(tmp_path: Path) -> None:
    big = {"config.epochs": list(range(1, 21)), "config.batch_size": [8, 16, 32, 64, 128, 256], "config.x": [1, 2, 3]}
    with pytest.raises(ManifestError) as info:
        load_manifests([write_manifests(tmp_path / "s.yaml", sweep(grid=big))], "vision")
    (problem,) = info.value.problems
    assert "360 points, more than maxRuns (256)" in problem.message and problem.location.line > 0
    assert len(load_manifests([write_manifests(tmp_path / "t.yaml", sweep(grid=big, maxRuns=400))], "vision")) == 360


def test_an_error_in_a_sweep_names_the_point_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    write_manifests(path, sweep(grid={"resources.cpu": ["1", "lots"]}))
    with pytest.raises(ManifestError) as info:
        load_manifests([path], "vision")
    (problem,) = info.value.problems
    assert "sweep point cpulots" in problem.message and problem.path == "spec.resources.cpu"
    grid_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "- lots" in line)
    assert problem.location.line == grid_line


def test_defaults_merge_under_runs_with_their_provenance(tmp_path: Path) -> None:
    defaults = {"apiVersion": "chariot-apply/v1", "kind": "RunDefaults", "metadata": {"name": "shared"},
                "spec": {"selector": {"project": "vision", "name": "res*"},
                         "template": {"resources": {"cpu": "8", "memory": "32Gi", "gpu": {"count": 1, "type": "A100"}},
                                      "config": {"epochs": 9, "learning_rate": 0.5}, "notes": "shared"}}}
    run = manifest("resnet", config={"dataset_id": "d", "epochs": 2})
    del run["spec"]["resources"]
    other = manifest("other")
    write_manifests(tmp_path / "defaults.yaml", defaults)
    write_manifests(tmp_path / "runs.yaml", run, other)
    loaded = {r.name: r for r in load_manifests([tmp_path], "vision")}
    resnet = loaded["resnet"]
    assert resnet.spec.resources.cpu == "8" and resnet.spec.config == {"epochs": 2, "learning_rate": 0.5,
                                                                       "dataset_id": "d"}
    assert resnet.spec.notes == "shared" and loaded["other"].spec.resources.cpu == "1"  # the selector's name
    assert resnet.where("spec.resources.gpu.type").file.endswith("defaults.yaml")
    assert resnet.where("spec.config.epochs").file.endswith("runs.yaml")  # the run's own value wins
    defaults["spec"]["template"]["resources"]["cpu"] = "lots"
    write_manifests(tmp_path / "defaults.yaml", defaults)
    with pytest.raises(ManifestError) as info:
        load_manifests([tmp_path], "vision")
    (problem,) = info.value.problems  # once, at the defaults' own line (not again for the run that inherits it)
    assert problem.location.file.endswith("defaults.yaml") and problem.path == "spec.template.resources.cpu"


def test_project_file_defaults_and_render_origins(workdir: Path) -> None:
    (workdir / "chariot-apply.yaml").write_text(
        "owner: team-test\nproject: vision\nmanifests: [runs/]\n"
        "defaults:\n  - selector: {project: vision}\n    template: {notes: from the project file}\n")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    rendered = run_cli("render", "--origins")
    assert rendered.exit_code == 0, rendered.output
    assert "notes: from the project file" in rendered.stdout
    assert "#   spec.notes <- chariot-apply.yaml:6:" in rendered.stdout


VARIABLES = """\
apiVersion: chariot-apply/v1
kind: TrainingRun
metadata:
  name: ${NAME:-fallback}
  version: "1"
spec:
  blueprint: {name: image-classifier}
  resources: {cpu: "1", memory: 1Gi}
  config:
    dataset_id: ds-${SUFFIX}
    epochs: ${EPOCHS}
    literal: $${NOT_A_VAR}
    hf_token: ${HF_TOKEN:-secret-default-value}
"""


def test_variables(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n"
                                                "vars: {EPOCHS: 7, SUFFIX: from-file}\n")
    (workdir / "runs" / "v.yaml").write_text(VARIABLES)
    monkeypatch.setenv("SUFFIX", "from-env")
    document = yaml.safe_load(run_cli("render").stdout)
    config = document["spec"]["config"]
    assert document["metadata"]["name"] == "fallback"  # ${NAME:-fallback}
    assert config["epochs"] == 7 and isinstance(config["epochs"], int)  # one variable: the YAML type of its value
    assert config["dataset_id"] == "ds-from-env"  # the environment before vars:
    assert config["literal"] == "$${NOT_A_VAR}"  # $${ is a literal ${, and render writes it so again
    assert config["hf_token"] == "(sensitive)"  # a secret variable's value is redacted (--show-secrets prints it)
    assert document["spec"]["sensitive"] == ["hf_token"]  # from a secret-looking variable
    flagged = yaml.safe_load(run_cli("render", "--var", "SUFFIX=from-flag", "--var", "EPOCHS=30").stdout)
    assert flagged["spec"]["config"]["dataset_id"] == "ds-from-flag" and flagged["spec"]["config"]["epochs"] == 30
    plan = run_cli("plan")
    assert "secret-default-value" not in plan.output
    (workdir / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n")
    monkeypatch.delenv("EPOCHS", raising=False)
    unset = run_cli("validate")
    assert unset.exit_code == 1 and "runs/v.yaml:11:5: spec.config.epochs: variable EPOCHS is not set" in unset.stderr


def test_render_planned_again_gives_the_same_plan(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "s.yaml", sweep(grid={"config.learning_rate": [0.001, 0.01]}), manifest("a"))
    run_cli("apply", "--auto-approve", "--target", "vision/lr-sweep-lr0.001@1")
    original = json.loads(run_cli("plan", "--format", "json").stdout)
    (workdir / "rendered.yaml").write_text(run_cli("render").stdout)
    again = json.loads(run_cli("plan", "--format", "json", "-f", "rendered.yaml").stdout)
    keys = ("kind", "address")
    assert [tuple(i[k] for k in keys) for i in original["plan"]["items"]] == [
        tuple(i[k] for k in keys) for i in again["plan"]["items"]]
    assert original["summary"] == again["summary"]
    assert [i.get("run") for i in original["plan"]["items"]] == [i.get("run") for i in again["plan"]["items"]]


def test_export_import_plan_has_no_changes(workdir: Path, server: BackgroundServer) -> None:
    async def populate() -> None:
        async with AsyncChariotClient(server.url) as client:
            for i in range(50):
                kind = i % 3
                if kind == 0:
                    await new_run(client, f"cls-{i}", config=classifier_config(epochs=i + 1, batch_size=64))
                elif kind == 1:
                    await new_run(client, f"det-{i}", blueprint="object-detector", task_type="Object Detection",
                                  config={"model": "yolov8n", "dataset_id": "d", "epochs": 3},
                                  notes=f"detector {i}")
                else:
                    await new_run(client, f"txt-{i}", blueprint="text-classifier", task_type="Text Classification",
                                  config={"dataset_id": "t", "num_labels": 4}, version_ilike="1.%")
            runs = await client.get_runs(limit=100, name_ilikes=["cls-3"])
            await client.stop_run(runs[0].id or "")

    asyncio.run(populate())
    imported = run_cli("import", "--project", "vision", "-o", "runs/imported")
    assert imported.exit_code == 0, imported.output
    assert "Imported 50 run(s)" in imported.stdout and "adopted 50" in imported.stdout
    documents = list(yaml.safe_load_all((workdir / "runs" / "imported" / "vision.yaml").read_text()))
    assert len(documents) == 50 and {d["spec"]["blueprint"]["name"] for d in documents} == {
        "image-classifier", "object-detector", "text-classifier"}
    cls3 = next(d for d in documents if d["metadata"]["name"] == "cls-3")
    assert cls3["spec"]["state"] == "stopped" and "batch_size" in cls3["spec"]["config"]
    assert "architecture" not in cls3["spec"]["config"]  # a schema default, filled in by the server
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.stdout and "50 unchanged" in plan.stdout


def test_the_lock_is_written_used_upgraded_and_enforced(workdir: Path, store: EmulatorStore) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", blueprint_version="2.%"))
    missing = run_cli("plan", "--locked")
    assert missing.exit_code == 1 and "--locked: there is no lock file" in missing.stderr
    assert run_cli("plan").exit_code == 0
    lock = yaml.safe_load((workdir / "chariot-apply.lock").read_text())
    assert [(b["name"], b["pattern"], b["version"]) for b in lock["blueprints"]] == [("image-classifier", "2.%",
                                                                                       "2.1.0")]
    assert run_cli("plan", "--locked").exit_code == 0
    schema = store.get_blueprint(lock["blueprints"][0]["id"])["config_schema"]
    store.seed(Catalog(blueprints=[BlueprintSeed(name="image-classifier", version="2.9.0", config_schema=schema,
                                                 task_types=["Image Classification"])]))
    held = run_cli("plan")
    assert '+ run "vision/a@1.0.0"' in held.stdout and "2.1.0" in held.stdout  # new runs too stay on the lock
    assert "newer blueprint available: image-classifier 2.% now resolves to 2.9.0 (locked: 2.1.0)" in held.stdout
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", blueprint_version="2.%"),
                    manifest("b", blueprint="object-detector", blueprint_version=None,
                             config={"model": "yolov8n", "dataset_id": "d", "epochs": 3}))
    uncovered = run_cli("plan", "--locked")
    assert uncovered.exit_code == 1 and "does not cover object-detector (latest)" in uncovered.stderr
    upgraded = run_cli("lock", "--upgrade", "image-classifier")
    assert upgraded.exit_code == 0 and "image-classifier 2.% -> 2.9.0" in upgraded.stdout
    assert "object-detector" not in upgraded.stdout  # --upgrade NAME touches NAME only, not even what is unlocked
    assert "object-detector (latest) -> 2.1.0-rc.1" in run_cli("lock").stdout  # a plain lock adds what it lacks
    assert "newer blueprint" not in run_cli("plan").stdout


def test_wrong_task_type_and_gpu_type_are_located(workdir: Path) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", blueprint="object-detector", blueprint_version=None,
                                   config={"model": "yolov8n", "dataset_id": "d", "epochs": 3},
                                   taskType="Image Classification"),
                    manifest("b", resources_={"cpu": "1", "memory": "1Gi", "gpu": {"count": 1, "type": "a10O"}}))
    result = run_cli("validate", "--online")
    assert result.exit_code == 1
    lines = path.read_text().splitlines()
    task_line = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("taskType"))
    gpu_line = next(i for i, line in enumerate(lines, 1) if "a10O" in line)
    assert f"runs/a.yaml:{task_line}:" in result.stderr and "is not one of blueprint object-detector" in result.stderr
    assert f"runs/a.yaml:{gpu_line}:" in result.stderr and "did you mean 'A100'?" in result.stderr
    assert run_cli("plan").exit_code == 1
