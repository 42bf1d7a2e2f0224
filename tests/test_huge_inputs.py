"""Inputs far past any real manifest (issue 18): each is refused quickly with a located error, never a hang or a
crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import run_cli
from tests.factories import manifest, write_manifests


def sweep(grid: dict[str, list[object]], **spec: object) -> dict[str, object]:
    template = manifest("t")
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "big", "version": "1.0.0"},
            "spec": {"template": template["spec"], "matrix": {"grid": grid}} | spec}


@pytest.mark.parametrize("exclude", [False, True])
@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_sweep_of_a_trillion_points_is_refused_before_it_is_built(command: str, exclude: bool,
                                                                    workdir: Path) -> None:
    grid = {f"config.k{i}": list(range(10)) for i in range(12)}  # 10^12 combinations
    extra = {"exclude": [{"config.k0": 0}]} if exclude else {}
    (workdir / "runs" / "big.yaml").write_text(yaml.safe_dump(sweep(grid, matrix={"grid": grid} | extra)))
    result = run_cli(command, "-f", "runs/")
    assert result.exit_code == 1, result.output
    assert "runs/big.yaml:" in result.output and "1,000,000,000,000" in result.output
    assert "more than maxRuns" in result.output and "Traceback" not in result.output


def test_a_variable_of_five_thousand_digits_is_text_not_a_crash(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config={"epochs": "${EPOCHS}", "dataset_id": "d"}))
    result = run_cli("--var", "EPOCHS=" + "9" * 5000, "validate", "-f", "runs/")
    assert result.exit_code in (0, 1) and "Traceback" not in result.output and "unexpectedly" not in result.output


def test_a_manifest_number_of_five_thousand_digits_is_located(workdir: Path) -> None:
    (workdir / "runs" / "a.yaml").write_text(yaml.safe_dump(manifest("a")).replace(
        "epochs: 1", "epochs: " + "9" * 5000))
    result = run_cli("validate", "-f", "runs/")
    assert result.exit_code == 1 and "runs/a.yaml:" in result.output, result.output
    assert "Traceback" not in result.output and "unexpectedly" not in result.output
