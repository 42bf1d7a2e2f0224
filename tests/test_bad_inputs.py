"""Issue 37: bad inputs over the commands. Each gets a clear answer: a non-zero exit that is not a crash (70), no
traceback, no silent success, a code, and the file and line where a file is at fault."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

HEAD = "apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: a, version: '1'}\n"
SPEC = ("spec:\n  blueprint: {name: image-classifier}\n  resources: {cpu: '1', memory: 1Gi}\n"
        "  config: {dataset_id: d, epochs: 1}\n")


def run_doc(spec_extra: str = "", *, spec: str = SPEC, head: str = HEAD) -> str:
    return head + spec + spec_extra


SWEEP = ("apiVersion: chariot-apply/v1\nkind: TrainingRunSweep\nmetadata: {name: s, version: '1'}\nspec:\n"
         "  template:\n    blueprint: {name: image-classifier}\n    resources: {cpu: '1', memory: 1Gi}\n"
         "    config: {dataset_id: d, epochs: 1}\n")

#: name -> (manifest text, or bytes), each broken in one way, found at a line of runs/a.yaml
MANIFESTS: dict[str, str | bytes] = {
    "tab indentation": run_doc().replace("  resources", "\tresources"),
    "unclosed quote": run_doc().replace("'1'}", "'1}"),
    "unclosed bracket": HEAD.replace("'1'}", "'1'") + SPEC,
    "duplicate key": run_doc("  config: {dataset_id: e, epochs: 1}\n"),
    "unknown kind": run_doc().replace("kind: TrainingRun", "kind: TrainingJob"),
    "wrong apiVersion": run_doc().replace("chariot-apply/v1", "chariot-apply/v9"),
    "no name": run_doc().replace("name: a, ", ""),
    "version read as a number": run_doc().replace("version: '1'", "version: 1.10"),
    "memory in GB": run_doc().replace("memory: 1Gi", "memory: 5GB"),
    "negative cpu": run_doc().replace("cpu: '1'", "cpu: '-1'"),
    "zero memory": run_doc().replace("memory: 1Gi", "memory: '0'"),
    "gpu count zero": run_doc("  limits: {maxDuration: 1h}\n").replace(
        "memory: 1Gi", "memory: 1Gi, gpu: {type: A100, count: 0}"),
    "gpu without type": run_doc().replace("memory: 1Gi", "memory: 1Gi, gpu: {count: 1}"),
    "unknown spec field": run_doc("  retries: 3\n"),
    "config as a list": run_doc().replace("config: {dataset_id: d, epochs: 1}", "config: [1, 2]"),
    "unknown state": run_doc("  state: paused\n"),
    "unknown onFailure": run_doc("  onFailure: sometimes\n"),
    "duration that is not one": run_doc("  limits: {maxDuration: soon}\n"),
    "variable not set": run_doc().replace("dataset_id: d", "dataset_id: ${NOT_SET_ANYWHERE}"),
    "variable not closed": run_doc().replace("dataset_id: d", "dataset_id: ${OPEN"),
    "a date in the config": run_doc().replace("dataset_id: d", "dataset_id: 2026-12-07"),
    "infinity in the config": run_doc().replace("epochs: 1", "epochs: .inf"),
    "a document that is a list": "- a\n- b\n" + "---\n" + run_doc(),
    "deep nesting": run_doc().replace("dataset_id: d", "dataset_id: " + "[" * 80 + "]" * 80),
    "alias bomb": HEAD + "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n" for i in range(6)) + SPEC,
    "empty sweep matrix": SWEEP + "  matrix: {}\n",
    "sweep parameter without values": SWEEP + "  matrix: {grid: {config.learning_rate: []}}\n",
    "sweep larger than maxRuns": SWEEP + "  maxRuns: 2\n  matrix: {grid: {config.epochs: [1, 2, 3]}}\n",
    "declared twice": run_doc() + "---\n" + run_doc(),
    "not UTF-8": b"apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: \xff}\n",
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_broken_manifest_is_located_with_its_code(workdir: Path, case: str, command: str) -> None:
    path = workdir / "runs" / "a.yaml"
    text = MANIFESTS[case]
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = run_cli(command)
    assert result.exit_code == 1, (case, result.output)
    assert re.search(r"Error\[CA1\d{3}\]", result.stderr), (case, result.stderr)
    assert re.search(r"runs/a\.yaml:\d+", result.stderr), (case, result.stderr)


#: name -> project file text, each broken in one way
PROJECT_FILES = {
    "owner that is not a name": "owner: 'two words'\nproject: vision\nmanifests: [runs/]\n",
    "unknown key": "owner: t\nproject: vision\nmanifests: [runs/]\nmanifest: [other/]\n",
    "negative price": "owner: t\nproject: vision\nmanifests: [runs/]\nprices: {A100: -1}\n",
    "currency that is not one": "owner: t\nproject: vision\nmanifests: [runs/]\nprices: {currency: 12}\n",
    "policy typo": "owner: t\nproject: vision\nmanifests: [runs/]\npolicy: {maxGpusPerRn: 1}\n",
    "manifests not a list": "owner: t\nproject: vision\nmanifests: {a: 1}\n",
    "syntax": "owner: t\nproject: [vision\nmanifests: [runs/]\n",
}


@pytest.mark.parametrize("case", sorted(PROJECT_FILES))
def test_a_broken_project_file_is_located_with_its_code(workdir: Path, case: str) -> None:
    (workdir / "chariot-apply.yaml").write_text(PROJECT_FILES[case])
    (workdir / "runs" / "a.yaml").write_text(run_doc())
    result = run_cli("plan")
    assert result.exit_code == 1, (case, result.output)
    assert re.search(r"Error\[CA\d{4}\]", result.stderr) and re.search(r"chariot-apply\.yaml:\d+", result.stderr), \
        (case, result.stderr)


COMMANDS = {
    "events at a malformed address": ["events", "not-an-address"],
    "metrics of a run that does not exist": ["metrics", "vision/nothing@1"],
    "report ranked by a mode that is not one": ["report", "--rank-by", "val/loss:avg"],
    "explain an unknown code": ["explain", "CA9999"],
    "apply a saved plan that does not exist": ["apply", "nowhere.json"],
    "apply a manifest as a saved plan": ["apply", "runs/a.yaml"],
    "plan a target that matches nothing": ["plan", "--target", "vision/nothing*"],
    "a --var that is not NAME=VALUE": ["plan", "--var", "EPOCHS"],
    "a --deadline that is not a duration": ["plan", "--deadline", "soon"],
    "export a project that does not exist": ["export", "--project", "nope", "-o", "out"],
    "lock --upgrade a blueprint nobody declares": ["lock", "--upgrade", "nothing-like-it"],
}


@pytest.mark.parametrize("case", sorted(COMMANDS))
def test_a_bad_command_line_is_a_clear_error(workdir: Path, case: str) -> None:
    (workdir / "runs" / "a.yaml").write_text(run_doc())
    result = run_cli(*COMMANDS[case])
    assert result.exit_code in (1, 2), (case, result.output)
    assert re.search(r"Error(\[CA\d{4}\])?: ", result.stderr), (case, result.stderr)
