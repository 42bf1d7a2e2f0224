"""Issue 37: every message true. Each case here is a reproduction from the issue: it failed before its fix."""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.cli.common import Globals
from chariot_apply.diagnostics import codes
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, manifest, write_manifests

GPU = {"cpu": "1", "memory": "1Gi"}


def gpu_run(name: str, kind: str, count: int = 1) -> dict:
    return manifest(name, resources_=GPU | {"gpu": {"type": kind, "count": count}}, limits={"maxDuration": "2h"})


def project_file(workdir: Path, extra: str) -> None:
    (workdir / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n" + extra)


def test_a_partial_price_list_says_which_gpu_types_have_no_price(workdir: Path) -> None:
    project_file(workdir, "prices: {currency: USD, A100: 2.5, L4: 0.5}\n")
    write_manifests(workdir / "runs" / "a.yaml", gpu_run("a", "A100"), gpu_run("l", "L4"), gpu_run("t", "T4"))
    text = run_cli("plan").stdout
    # A100 and L4 priced over 2 h each, T4 not: the money of the priced ones, and the type without a price said.
    assert f"≤ {2 * 2.5 + 2 * 0.5:,.2f} USD for A100, L4; no price for T4" in text, text
    project_file(workdir, "prices: {currency: EUR, A100: 2.5, L4: 0.5, T4: 0.25}\n")
    assert f"(≤ {2 * 2.5 + 2 * 0.5 + 2 * 0.25:,.2f} EUR)" in run_cli("plan").stdout


@pytest.mark.parametrize("price", ["-6", ".inf", ".nan"])
def test_a_price_that_is_not_money_is_refused_at_its_line(workdir: Path, price: str) -> None:
    project_file(workdir, f"prices:\n  A100: {price}\n")
    write_manifests(workdir / "runs" / "a.yaml", gpu_run("a", "A100"))
    result = run_cli("plan")
    # -6 by the project file's rule, .inf and .nan already by the YAML reader (no JSON carries them)
    assert result.exit_code == 1 and re.search(rf"\[({codes.PROJECT_FILE_VALUE}|{codes.YAML_UNREADABLE_VALUE})\]",
                                                result.stderr)
    assert re.search(r"chariot-apply\.yaml:[45]:\d+: prices", result.stderr), result.stderr
    assert "≤" not in result.stdout


def test_a_price_for_a_gpu_type_the_cluster_lacks_is_said(workdir: Path) -> None:
    project_file(workdir, "prices: {A1OO: 2.5}\n")
    write_manifests(workdir / "runs" / "a.yaml", gpu_run("a", "A100"))
    text = run_cli("plan").output
    assert "prices.A1OO: this Chariot has no GPU type 'A1OO' (did you mean 'A100'?)" in text, text
    assert "no price for A100" in text


def test_a_misspelt_policy_key_gets_a_did_you_mean_at_its_line(workdir: Path) -> None:
    project_file(workdir, "policies:\n  prod:\n    maxGpusPerRn: 2\n")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("plan")
    assert result.exit_code == 1 and "chariot-apply.yaml:6:5: policies.prod: unknown key 'maxGpusPerRn' " \
           "(did you mean 'maxGpusPerRun'?) [CA2202]" in result.stderr, result.stderr


def test_a_binary_project_file_is_an_error_at_its_line_not_a_crash(workdir: Path) -> None:
    (workdir / "chariot-apply.yaml").write_bytes(b"owner: t\n\xff\xfe\x00binary")
    for command in ("validate", "plan", "doctor", "status"):
        result = run_cli(command)
        assert result.exit_code == 1, (command, result.output)
        assert "chariot-apply.yaml:2: cannot read: byte 0xff at offset 9 is not UTF-8" in result.stderr


def test_an_empty_sweep_matrix_is_an_error_not_a_sweep_that_vanishes(workdir: Path) -> None:
    (workdir / "runs" / "s.yaml").write_text(
        "apiVersion: chariot-apply/v1\nkind: TrainingRunSweep\nmetadata: {name: s, version: '1'}\nspec:\n"
        "  matrix: {}\n  template:\n    blueprint: {name: image-classifier}\n    resources: {cpu: '1', memory: 1Gi}\n")
    result = run_cli("validate")
    assert result.exit_code == 1 and "runs/s.yaml:5:3: spec.matrix: the sweep makes no run" in result.stderr


def test_doctor_fails_on_broken_manifests(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", resources_={"cpu": "1", "memory": "5GB"}))
    result = run_cli("doctor")
    assert result.exit_code == 1 and re.search(r"FAIL +manifests: 1 problem\(s\) in the manifests: \[CA1203\]",
                                                result.stdout), result.stdout


def test_the_output_flag_habit_is_pointed_at_format(workdir: Path) -> None:
    for command in ("report", "plan", "status"):
        result = run_cli(command, "-o", "json")
        assert result.exit_code == 2 and "Did you mean --format?" in result.stderr, (command, result.stderr)


@pytest.mark.parametrize(("value", "colour"), [("", True), ("1", False), (None, True)])
def test_no_color_counts_only_when_it_is_not_empty(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                   colour: bool) -> None:
    """no-color.org: "when present and not an empty string"."""
    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert Globals().color is colour


def test_runs_declared_stopped_or_absent_that_never_existed_are_not_unchanged(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b", state="stopped"),
                    manifest("c", state="absent"))
    text = run_cli("plan").stdout
    assert "Plan: 1 to create, 0 to replace, 0 to stop, 0 to delete; 0 unchanged, 2 declared stopped or absent " \
           "with no such run." in text, text


def test_a_dependency_typo_never_suggests_the_run_itself(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("train", version="1"),
                    manifest("evaluate", version="1", dependsOn=["vision/evaluat@1"]))
    text = run_cli("plan").output
    assert "'vision/evaluat@1' is not a declared run" in text
    assert "did you mean 'vision/evaluate@1'" not in text and "did you mean 'vision/train@1'?" in text, text


def test_validate_online_says_every_problem_of_a_run_and_its_unknown_config_keys(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml",
                    manifest("a", blueprint="object-detector", blueprint_version=None, taskType="Image Classification",
                             config={"model": "yolov8n", "dataset_id": "d", "epochs": 3},
                             resources_=GPU | {"gpu": {"type": "A1OO", "count": 1}}),
                    manifest("b", config=classifier_config() | {"learing_rate": 0.1}))
    result = run_cli("validate", "--online")
    assert result.exit_code == 1
    assert "spec.taskType" in result.stderr and "spec.resources.gpu.type" in result.stderr  # both, at once
    write_manifests(workdir / "runs" / "a.yaml", manifest("b", config=classifier_config() | {"learing_rate": 0.1}))
    warned = run_cli("validate", "--online")
    assert warned.exit_code == 0 and "unknown config key 'learing_rate' (did you mean 'learning_rate'?)" in \
           warned.stderr and "1 manifest(s) valid, with 1 warning(s) above." in warned.stdout
    document = json.loads(run_cli("validate", "--online", "--format", "json").stdout)
    (found,) = document["diagnostics"]
    assert document["valid"] and found["severity"] == "warning" and found["code"] == codes.CONFIG_UNKNOWN_KEY


def test_a_report_ranks_by_the_best_value_says_so_and_shows_the_last(workdir: Path, server: BackgroundServer,
                                                                    clock: ManualClock) -> None:
    sweep = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
             "metadata": {"name": "opt", "version": "1", "project": "vision"},
             "spec": {"template": {"blueprint": {"name": "image-classifier", "version": "2.%"},
                                   "resources": GPU, "config": classifier_config(epochs=4)},
                      "matrix": {"grid": {"config.optimizer": [{"name": "adam"}, {"name": "sgd"}],
                                          "config.learning_rate": [0.0003, 0.003]}}}}
    write_manifests(workdir / "runs" / "s.yaml", sweep)
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 60)
    document = json.loads(run_cli("report", "--format", "json", "--rank-by", "val/loss").stdout)

    async def series() -> dict[str, list[tuple[int, float]]]:
        async with AsyncChariotClient(server.url) as client:
            runs = [r async for r in client.iter_runs()]
            found = {}
            for run in runs:
                metrics = await client.get_all_metrics(run.id or "")
                found[run.id or ""] = sorted((m.global_step, float(m.value)) for m in metrics
                                             if m.tag == "val/loss" and m.value is not None
                                             and math.isfinite(float(m.value)))
            return found

    by_id = asyncio.run(series())
    points = document["sweeps"][0]["points"]
    assert len(points) == 4
    for point in points:
        values = by_id[point["run_id"]]
        assert point["score"] == min(v for _, v in values) and point["last"] == values[-1][1]
    text = run_cli("report", "--rank-by", "val/loss").stdout
    assert "each run's best value ranks it" in text and "optimizer={name: adam}" in text, text
    assert "{'name'" not in text
    markdown = run_cli("report", "--format", "markdown").stdout
    assert "| val/loss best | val/loss last |" in markdown or "best |" in markdown
    html = run_cli("report", "--format", "html").stdout
    assert re.search(r"<b>4 run\(s\): 4 \w+</b>", html), html[:500]


@pytest.mark.parametrize(("rank_by", "said"), [("val/loss:avg", "'avg' is not a mode"),
                                                ("val/los", "no declared run reports that metric")])
def test_report_refuses_a_ranking_it_cannot_make(workdir: Path, clock: ManualClock, rank_by: str, said: str) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 30)
    result = run_cli("report", "--rank-by", rank_by)
    assert result.exit_code == 1 and said in result.stderr, result.output
