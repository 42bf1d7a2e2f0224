"""The SDK backend on every shape the reference allows (issue 36). Where the reference leaves a shape open, the
stand-in SDK offers each variant (``tests/sdk/chariot/training_v2/_variants.py``): the class of the
"ValidationError" ``validate_run_config`` raises, what ``get_available_system_gpus`` returns, whether exceptions
keep their constructor's arguments as attributes, and what a lost connection raises. The same end-to-end flow
runs on each, and no step may end in a crash (exit 70) or lose a manifest location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import Result, run_cli
from tests.factories import SDK_STANDIN, live_runs, manifest, use_standin_sdk, write_manifests


def _variants() -> dict[str, tuple[str, ...]]:
    """The stand-in's table of variants, read without importing the stand-in into this process's ``chariot``."""
    import runpy

    return dict(runpy.run_path(str(SDK_STANDIN / "chariot" / "training_v2" / "_variants.py"))["VARIANTS"])


VARIANTS = _variants()

TASK = "Image Classification"
EACH = [(name, shape) for name, shapes in VARIANTS.items() for shape in shapes]


def each(*names: str) -> pytest.MarkDecorator:
    """The variants of ``names`` (what the step's outcome depends on), for the ``sdk`` fixture; every step runs
    on every variant of what it touches, and on the defaults of the rest."""
    chosen = [(n, s) for n, s in EACH if n in names]
    return pytest.mark.parametrize("sdk", chosen, ids=[f"{n}={s}" for n, s in chosen], indirect=True)


@pytest.fixture
def sdk(request: pytest.FixtureRequest, workdir: Path, server: BackgroundServer,
        monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The workdir's commands go through the stand-in SDK in one variant."""
    use_standin_sdk(request, monkeypatch)
    monkeypatch.delenv("CHARIOT_URL")
    monkeypatch.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
    monkeypatch.setenv("CHARIOT_APPLY_BACKEND", "sdk")
    name, shape = request.param
    monkeypatch.setenv(f"CHARIOT_SDK_STANDIN_{name.upper()}", shape)
    return name, shape


def run(*args: str) -> Result:
    done = run_cli(*args)
    assert done.exit_code != 70, done.output  # "please report it": never on a documented shape
    return done


def declare(workdir: Path, *manifests: dict[str, object]) -> None:
    write_manifests(workdir / "runs" / "runs.yaml", *manifests)


@each("gpus", "errors", "lost")
def test_plan_apply_converge_and_read(sdk: tuple[str, str], workdir: Path, server: BackgroundServer) -> None:
    declare(workdir, manifest("alpha", taskType=TASK),
            manifest("gpu", taskType=TASK, resources_={"cpu": "8", "memory": "64Gi",
                                                       "gpu": {"count": 1, "type": "H100"}}))
    first = run("plan", "--detailed-exitcode")
    assert first.exit_code == 2 and "2 to create" in first.stdout, first.output
    assert run("apply", "--auto-approve").exit_code == 0
    assert run("plan", "--detailed-exitcode").exit_code == 0
    status = run("status", "--format", "json")
    assert sorted(r["address"] for r in json.loads(status.stdout)["runs"]) == ["vision/alpha@1.0.0",
                                                                                "vision/gpu@1.0.0"]
    assert "run_created" in run("events", "vision/alpha@1.0.0").stdout


@each("gpus")
def test_a_gpu_type_the_cluster_lacks_is_located(sdk: tuple[str, str], workdir: Path) -> None:
    declare(workdir, manifest("gpu", taskType=TASK, resources_={"cpu": "8", "memory": "64Gi",
                                                                "gpu": {"count": 1, "type": "V100"}}))
    done = run("plan")
    assert done.exit_code == 1 and "runs/runs.yaml:" in done.stdout and "V100" in done.stdout, done.output


@each("validation", "errors")
def test_an_invalid_config_keeps_its_location(sdk: tuple[str, str], workdir: Path) -> None:
    declare(workdir, manifest("alpha", taskType=TASK, config={"epochs": "many", "dataset_id": "ds-1"}))
    done = run("plan")
    assert done.exit_code == 1 and "runs/runs.yaml:" in done.stdout, done.output
    assert "epochs" in done.stdout or "many" in done.stdout
    assert run("apply", "--auto-approve").exit_code == 1


@each("errors")
def test_an_unknown_blueprint_is_said(sdk: tuple[str, str], workdir: Path) -> None:
    declare(workdir, manifest("alpha", taskType=TASK, blueprint="no-such-blueprint"))
    done = run("plan")
    assert done.exit_code == 1 and "does not exist" in done.stdout and "runs/runs.yaml:" in done.stdout, done.output


@each("errors")
def test_a_refused_credential_is_said_plainly(sdk: tuple[str, str], workdir: Path, auth: object,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    auth.tokens.add("right")  # type: ignore[attr-defined]
    monkeypatch.setenv("CHARIOT_SDK_STANDIN_TOKEN", "wrong")
    declare(workdir, manifest("alpha", taskType=TASK))
    done = run("plan")
    assert done.exit_code == 1 and "401" in done.stderr, done.output


@pytest.mark.parametrize("fault", ["commit-then-drop", "commit-then-502"])
@each("lost", "errors")
def test_a_create_whose_answer_is_lost_or_failed_makes_the_run_once(fault: str, sdk: tuple[str, str],
                                                                    workdir: Path, server: BackgroundServer,
                                                                    faults: Faults) -> None:
    """The create committed, then its answer was lost or a 502: looked up, never sent twice."""
    declare(workdir, manifest("alpha", taskType=TASK))
    faults.script(fault, "POST", "/api/training/v2/runs")  # type: ignore[arg-type]
    done = run("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    assert [r.name for r in live_runs(server)] == ["alpha"]


@each("gpus", "validation")
def test_doctor_names_what_it_found(sdk: tuple[str, str], workdir: Path) -> None:
    done = run("doctor")
    assert "chariot.training_v2.run.get_runs" in done.output and "switch to the SDK" not in done.output


def test_an_sdk_without_a_documented_name_is_said_not_crashed(workdir: Path, server: BackgroundServer,
                                                             request: pytest.FixtureRequest,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An SDK older or newer than the reference: the name it lacks is named by doctor and by the plan."""
    use_standin_sdk(request, monkeypatch)
    monkeypatch.delenv("CHARIOT_URL")
    monkeypatch.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
    monkeypatch.setenv("CHARIOT_APPLY_BACKEND", "sdk")
    import chariot.training_v2.run

    monkeypatch.delattr(chariot.training_v2.run, "get_runs")
    declare(workdir, manifest("alpha", taskType=TASK))
    doctor = run("doctor")
    assert doctor.exit_code == 1 and "missing: chariot.training_v2.run.get_runs" in doctor.stdout, doctor.output
    plan = run("plan")
    assert plan.exit_code == 1 and "chariot.training_v2.run.get_runs" in plan.output, plan.output
