"""The same scenarios on both backends: our REST client, and the official SDK's calls (here the stand-in SDK of
``tests/sdk/``, over the same loopback emulator). A behaviour that holds on one and not the other fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import (
    classifier_config,
    create_directly,
    kept,
    live_runs,
    manifest,
    use_standin_sdk,
    write_manifests,
)


@pytest.fixture(params=["rest", "sdk"])
def backend(request: pytest.FixtureRequest, workdir: Path, server: BackgroundServer,
            monkeypatch: pytest.MonkeyPatch) -> str:
    """The workdir's commands reach the emulator over REST (``CHARIOT_URL``) or through the SDK (configured by
    its own settings, the URL unset)."""
    if request.param == "sdk":
        use_standin_sdk(request, monkeypatch)
        monkeypatch.delenv("CHARIOT_URL")
        monkeypatch.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
    monkeypatch.setenv("CHARIOT_APPLY_BACKEND", request.param)
    return str(request.param)


def declared(workdir: Path, *names: str) -> None:
    write_manifests(workdir / "runs" / "runs.yaml",
                    *(manifest(n, taskType="Image Classification") for n in names))


def test_plan_apply_plan_converges(backend: str, workdir: Path, server: BackgroundServer) -> None:
    declared(workdir, "alpha", "beta")
    first = run_cli("plan", "--detailed-exitcode")
    assert first.exit_code == 2 and f"backend {backend}" in first.stdout and "2 to create" in first.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 0
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert sorted(r.name for r in live_runs(server)) == ["alpha", "beta"]


def test_stop_and_delete(backend: str, workdir: Path, server: BackgroundServer) -> None:
    declared(workdir, "alpha", "beta")
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(workdir / "runs" / "runs.yaml", manifest("alpha", taskType="Image Classification",
                                                             state="stopped"),
                    manifest("beta", taskType="Image Classification", state="absent"))
    done = run_cli("apply", "--auto-approve")
    assert done.exit_code == 0, done.output
    runs = {r.name: r for r in live_runs(server)}
    assert set(runs) == {"alpha"} and runs["alpha"].status in ("run_stop_requested", "job_terminating",
                                                               "job_terminated", "job_terminate_requested")


def test_status_events_and_metrics(backend: str, workdir: Path, server: BackgroundServer) -> None:
    declared(workdir, "alpha")
    assert run_cli("apply", "--auto-approve").exit_code == 0
    status = run_cli("status", "--format", "json")
    assert status.exit_code == 0, status.output
    assert [r["address"] for r in json.loads(status.stdout)["runs"]] == ["vision/alpha@1.0.0"]
    events = run_cli("events", "vision/alpha@1.0.0")
    assert events.exit_code == 0 and "run_created" in events.stdout
    assert run_cli("metrics", "vision/alpha@1.0.0", "--format", "json").exit_code == 0


def test_an_invalid_config_is_located(backend: str, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "runs.yaml",
                    manifest("alpha", taskType="Image Classification", config={"epochs": "many"}))
    result = run_cli("plan")
    assert result.exit_code == 1
    assert "runs/runs.yaml:" in result.stdout and "epochs" in result.stdout


def test_an_unknown_blueprint_is_an_error_not_a_crash(backend: str, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "runs.yaml",
                    manifest("alpha", taskType="Image Classification", blueprint="no-such-blueprint"))
    result = run_cli("plan")
    assert result.exit_code == 1 and "does not exist" in result.stdout


def test_a_create_whose_answer_is_lost_is_never_made_twice(backend: str, workdir: Path, server: BackgroundServer,
                                                           faults: Faults) -> None:
    declared(workdir, "alpha")
    faults.script("commit-then-drop", "POST", "/api/training/v2/runs")
    result = run_cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert [r.name for r in live_runs(server)] == ["alpha"]


def test_a_refused_credential_is_said_plainly(backend: str, workdir: Path, server: BackgroundServer,
                                              auth: object, monkeypatch: pytest.MonkeyPatch) -> None:
    auth.tokens.add("right")  # type: ignore[attr-defined]
    monkeypatch.setenv("CHARIOT_TOKEN", "wrong")
    monkeypatch.setenv("CHARIOT_SDK_STANDIN_TOKEN", "wrong")
    declared(workdir, "alpha")
    result = run_cli("plan")
    assert result.exit_code == 1 and "401" in result.stderr and "Traceback" not in result.output


def test_the_sdk_backend_without_the_sdk_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "chariot-apply.yaml").write_text("owner: t\nproject: vision\nbackend: sdk\nmanifests: [runs/]\n")
    write_manifests(tmp_path / "runs" / "runs.yaml", manifest("alpha"))
    env = {k: v for k, v in os.environ.items() if kept(k) and k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "chariot_apply.cli.main", "plan"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "the Chariot SDK does not import here" in done.stderr and "/docs/static/" in done.stderr
    assert "Traceback" not in done.stderr


def test_auto_chooses_the_sdk_where_it_imports_and_no_url_is_named(workdir: Path, server: BackgroundServer,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   request: pytest.FixtureRequest) -> None:
    declared(workdir, "alpha")
    use_standin_sdk(request, monkeypatch)
    monkeypatch.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
    assert "backend rest" in run_cli("plan").stdout  # CHARIOT_URL named: our REST model
    monkeypatch.delenv("CHARIOT_URL")
    assert "backend sdk" in run_cli("plan").stdout


def test_export_through_the_sdk_says_what_it_cannot_name(backend: str, workdir: Path) -> None:
    """The SDK cannot read a blueprint by id: export says so for each run instead of writing a nameless one."""
    declared(workdir, "alpha")
    assert run_cli("apply", "--auto-approve").exit_code == 0
    result = run_cli("export", "--project", "vision", "--include-managed")
    assert result.exit_code == 0, result.output
    if backend == "sdk":
        assert "cannot read blueprint" in result.stderr and "--backend rest" in result.stderr
        assert "image-classifier" not in result.stdout
    else:
        assert "name: image-classifier" in result.stdout


def test_promotions_through_a_backend_that_cannot_list_models_are_refused_not_repeated(
        backend: str, workdir: Path, server: BackgroundServer) -> None:
    """Without a list of models a promotion could be made twice, and retention could delete a checkpoint a model
    came from: the SDK backend refuses both, at the manifest's line, from the first plan."""
    write_manifests(workdir / "runs" / "runs.yaml", manifest("alpha", taskType="Image Classification", promote=[
        {"model": {"name": "m", "version": "1.0.0", "summary": "s"}, "checkpoint": {"select": "last"}}]))
    result = run_cli("plan")
    if backend == "sdk":
        assert result.exit_code == 1 and "runs/runs.yaml:" in result.stdout
        assert "cannot list models" in result.stdout and "--backend rest" in result.stdout
        assert run_cli("apply", "--auto-approve").exit_code == 1 and live_runs(server) == []
    else:
        assert result.exit_code == 0 and "1 to create" in result.stdout


def test_a_read_that_fails_for_a_moment_is_retried(backend: str, workdir: Path, faults: Faults) -> None:
    """On the SDK backend as on REST: a 503 on a listing is retried with backoff, not a failed plan."""
    declared(workdir, "alpha")
    for _ in range(2):
        faults.script("503", "GET", "/api/training/v2/runs")
    result = run_cli("plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert faults.injected == 2


def test_events_follow_ends_with_the_run(backend: str, workdir: Path, clock: ManualClock) -> None:
    """``events --follow`` polls through the backend until the run finishes; the clock moves meanwhile."""
    declared(workdir, "alpha")
    assert run_cli("apply", "--auto-approve").exit_code == 0
    moving = threading.Event()

    def advance() -> None:
        while not moving.wait(0.02):
            clock.advance(30)

    ticker = threading.Thread(target=advance, daemon=True)
    ticker.start()
    try:
        followed = run_cli("events", "vision/alpha@1.0.0", "--follow", "--interval", "0.05")
    finally:
        moving.set()
        ticker.join()
    assert followed.exit_code == 0, followed.output
    statuses = [line.split()[2] for line in followed.stdout.splitlines()]
    assert statuses[0] == "run_created" and statuses[-1] == "job_completed"
    assert run_cli("events", "vision/alpha@1.0.0").stdout == followed.stdout


def test_import_adopts_what_it_can_name_and_says_what_it_cannot(backend: str, workdir: Path,
                                                                 server: BackgroundServer) -> None:
    """Another tool's run, imported: on REST it is adopted and the next plan is clean; through the SDK (no
    blueprint by id) nothing half-made is written and the reason is given."""
    create_directly(server, "theirs", config=classifier_config(epochs=2))
    imported = run_cli("import", "--project", "vision", "-o", "runs/imported")
    written = workdir / "runs" / "imported" / "vision.yaml"
    if backend == "sdk":
        assert "cannot read blueprint" in imported.output and "Traceback" not in imported.output
        assert not written.exists() or "image-classifier" not in written.read_text()
        return
    assert imported.exit_code == 0, imported.output
    assert "name: image-classifier" in written.read_text()
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0
