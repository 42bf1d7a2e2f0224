"""The chariot-apply command end to end (CliRunner) against a loopback emulator with a manual clock."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from chariot_apply.chariot.models import Run
from chariot_apply.emulator.catalog import BlueprintSeed, Catalog
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.ownership import parse_notes
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, create_directly, live_runs, manifest, write_manifests

ROOT = Path(__file__).resolve().parents[1]


def by_name(runs: list[Run]) -> dict[str, Run]:
    return {f"{r.name}@{r.version}": r for r in runs}


def test_plan_apply_plan_converges(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b", project="nlp"))
    first = run_cli("plan", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "Plan: 2 to create" in first.stdout and '+ run "vision/a@1.0.0"' in first.stdout
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete: 2 create; 0 failed." in applied.stdout
    runs = by_name(live_runs(server))
    assert set(runs) == {"a@1.0.0", "b@1.0.0"}
    user_notes, marker = parse_notes(runs["a@1.0.0"].notes)
    assert marker is not None and marker.owner == "team-test" and user_notes == ""
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.stdout and "2 unchanged" in again.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert len(live_runs(server)) == 2  # applying twice changed nothing


def test_equal_quantities_and_server_defaults_are_not_changes(workdir: Path) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", resources_={"cpu": "1", "memory": "2Gi"}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(path, manifest("a", resources_={"cpu": "1000m", "memory": "2147483648"},
                                   config=classifier_config(batch_size=32)))  # 32 is the schema default
    result = run_cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_stop_and_absent(workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=classifier_config(epochs=100)), manifest("b"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(10)
    write_manifests(path, manifest("a", state="stopped", config=classifier_config(epochs=100)),
                    manifest("b", state="absent"))
    plan = run_cli("plan")
    assert '~ run "vision/a@1.0.0"' in plan.stdout and '- run "vision/b@1.0.0"' in plan.stdout
    assert "1 to stop, 1 to delete" in plan.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 0
    runs = by_name(live_runs(server))
    assert set(runs) == {"a@1.0.0"} and runs["a@1.0.0"].status == "run_stop_requested"
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_running_leaves_a_finished_run_alone(workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    run_cli("apply", "--auto-approve")
    clock.advance(3600)
    result = run_cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0 and live_runs(server)[0].status == "job_completed"


def test_prune(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("keep"), manifest("drop"))
    run_cli("apply", "--auto-approve")
    write_manifests(path, manifest("keep"))
    plan = run_cli("plan", "--prune")
    assert "prune candidate" not in plan.stdout and '- run "vision/drop@1.0.0"' in plan.stdout
    without = run_cli("apply", "--auto-approve")
    assert without.exit_code == 0 and len(live_runs(server)) == 2  # not pruned without --prune
    with_prune = run_cli("apply", "--auto-approve", "--prune")
    assert with_prune.exit_code == 0, with_prune.output
    assert [r.name for r in live_runs(server)] == ["keep"]


def test_prune_shows_candidates_when_listing_and_an_empty_set_never_prunes(workdir: Path,
                                                                          server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"))
    run_cli("apply", "--auto-approve")
    empty = workdir / "empty"
    empty.mkdir()
    result = run_cli("apply", "-f", str(empty), "--prune", "--auto-approve")
    assert result.exit_code == 1 and "no manifests found" in result.stderr  # never "delete everything"
    assert len(live_runs(server)) == 2


def test_replace_refused_then_allowed(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=classifier_config(learning_rate=0.01)))
    run_cli("apply", "--auto-approve")
    (old,) = live_runs(server)
    write_manifests(path, manifest("a", config=classifier_config(learning_rate=0.02),
                                   resources_={"cpu": "2", "memory": "2Gi"}))
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 1  # a blocked replace is not a change, but the apply would fail on it
    assert "replacing is not allowed" in plan.stdout
    assert "~ config.learning_rate: 0.01 -> 0.02" in plan.stdout and '~ resources.cpu: "1" -> "2"' in plan.stdout
    assert "bump metadata.version" in plan.stdout
    refused = run_cli("apply", "--auto-approve")
    assert refused.exit_code == 1 and [r.id for r in live_runs(server)] == [old.id]
    allowed = run_cli("apply", "--auto-approve", "--allow-replace")
    assert allowed.exit_code == 0, allowed.output
    (new,) = live_runs(server)
    assert new.id != old.id and new.config["learning_rate"] == 0.02
    assert run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_a_key_removed_from_the_manifest_is_a_difference(workdir: Path) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=classifier_config(architecture="vit-b16")))
    run_cli("apply", "--auto-approve")
    write_manifests(path, manifest("a", config=classifier_config(), allowReplace=True))
    plan = run_cli("plan")
    assert '- config.architecture: "vit-b16"   (no longer in the manifest)' in plan.stdout
    assert "1 to replace" in plan.stdout


def test_floating_blueprint_is_reported_not_replaced(workdir: Path, store: EmulatorStore) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", blueprint_version="2.%"))
    run_cli("apply", "--auto-approve")
    schema = store.get_blueprint(store.lookup_blueprint("image-classifier", "2.1.0")["id"])["config_schema"]
    store.seed(Catalog(blueprints=[BlueprintSeed(name="image-classifier", version="2.2.0", config_schema=schema,
                                                 task_types=["Image Classification"])]))
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output  # the lock holds the run (and new runs) at 2.1.0
    assert "newer blueprint available: image-classifier 2.% now resolves to 2.2.0 (locked: 2.1.0)" in plan.stdout
    assert run_cli("lock", "--upgrade", "image-classifier").exit_code == 0
    moved = run_cli("plan", "--detailed-exitcode")
    assert moved.exit_code == 0, moved.output  # the live run is never replaced by itself
    assert "now resolves to 2.2.0; this run uses 2.1.0" in moved.stdout


def test_saved_plan_applies_exactly_and_stale_plans_are_refused(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"))
    saved = run_cli("plan", "--out", "plan.json")
    assert saved.exit_code == 0 and (workdir / "plan.json").stat().st_mode & 0o777 == 0o600
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))  # the plan file, not the manifests, is applied
    assert run_cli("apply", "plan.json", "--auto-approve").exit_code == 0
    assert sorted(r.name for r in live_runs(server)) == ["a", "b"]
    stale = run_cli("plan", "--out", "stale.json", "--prune")
    assert "vision/b@1.0.0" in stale.stdout
    create_directly(server, "b")  # meanwhile somebody changes the run the plan touches
    refused = run_cli("apply", "stale.json", "--auto-approve")
    assert refused.exit_code == 1 and "stale" in refused.stderr and "vision/b@1.0.0" in refused.stderr
    assert len(live_runs(server)) == 3


def test_redacted_json_cannot_be_applied(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    (workdir / "shown.json").write_text(run_cli("plan", "--format", "json").stdout)
    result = run_cli("apply", "shown.json", "--auto-approve")
    assert result.exit_code == 1 and "redacted plan" in result.stderr


def test_conflict_with_an_unowned_run_and_adoption(workdir: Path, server: BackgroundServer) -> None:
    theirs = create_directly(server, "a", config=classifier_config(epochs=7))
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    plan = run_cli("plan")
    assert "conflict" in plan.stdout and theirs in plan.stdout and "never touched" in plan.stdout
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 1
    assert [(r.id, r.status) for r in live_runs(server)] == [(theirs, "run_created")]
    adopted = run_cli("adopt", "vision/a@1.0.0")
    assert adopted.exit_code == 0 and theirs in (workdir / "chariot-apply.yaml").read_text()
    after = run_cli("plan")
    assert "conflict" not in after.stdout and "replacing is not allowed" in after.stdout  # epochs 7 vs 1


def test_other_owner_is_a_conflict(workdir: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", state="absent"), manifest("b"))
    monkeypatch.setenv("CHARIOT_APPLY_OWNER", "other-team")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    run_cli("apply", "--auto-approve")
    monkeypatch.delenv("CHARIOT_APPLY_OWNER")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", state="absent"))
    plan = run_cli("plan")
    assert "chariot-apply owner 'other-team'" in plan.stdout
    assert run_cli("apply", "--auto-approve", "--prune").exit_code == 1
    assert len(live_runs(server)) == 1


def test_target_and_exclude(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"), manifest("c", project="nlp"))
    plan = run_cli("plan", "--target", "vision/*", "--exclude", "*/b@*")
    assert "Plan: 1 to create" in plan.stdout and "vision/a@1.0.0" in plan.stdout
    run_cli("apply", "--auto-approve", "--target", "nlp/c@1.0.0")
    assert [r.name for r in live_runs(server)] == ["c"]


def test_formats_and_redaction(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml",
                    manifest("llm", blueprint="llm-fine-tune", blueprint_version=None,
                             config={"base_model": "phi-3-mini", "dataset_id": "d", "max_steps": 5,
                                     "hf_token": "hf_SECRET_VALUE"}),
                    manifest("b", config=classifier_config(dataset_id="private-ds"), sensitive=["dataset_id"]))
    outputs = {fmt: run_cli("plan", "--format", fmt) for fmt in ("text", "json", "markdown")}
    for fmt, result in outputs.items():
        assert result.exit_code == 0, result.output
        assert "hf_SECRET_VALUE" not in result.stdout and "private-ds" not in result.stdout, fmt
        assert "(sensitive)" in result.stdout, fmt
    document = json.loads(outputs["json"].stdout)
    jsonschema.validate(document, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert document["counts"]["create"] == 2 and document["redacted"] is True
    assert outputs["markdown"].stdout.startswith("### chariot-apply plan")
    saved = run_cli("plan", "--out", "p.json")
    assert saved.exit_code == 0 and "hf_SECRET_VALUE" in (workdir / "p.json").read_text()  # kept to apply it


def test_color_only_when_asked_for(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert "\x1b[" not in run_cli("plan").stdout  # not a terminal


def test_apply_without_a_terminal_needs_auto_approve(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("apply")
    assert result.exit_code == 1 and "no terminal" in result.stderr and "--auto-approve" in result.stderr
    assert live_runs(server) == []


@pytest.mark.slow
def test_failed_creates_are_reported_and_a_rerun_converges(workdir: Path, server: BackgroundServer,
                                                           faults: Faults) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"), manifest("c"))
    for _ in range(3 * 3):  # every attempt of every create fails (each looked up before the next)
        faults.script("500", "POST", "/runs")
    result = run_cli("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "Apply incomplete: nothing done; 3 failed." in result.stdout and "create failed" in result.stderr
    assert live_runs(server) == []
    assert "run `chariot-apply apply` again" in result.stderr
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert sorted(r.name for r in live_runs(server)) == ["a", "b", "c"]


def test_a_create_whose_answer_is_lost_is_not_duplicated(workdir: Path, server: BackgroundServer,
                                                         faults: Faults) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    faults.script("commit-then-drop", "POST", "/runs")
    result = run_cli("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "found it by its marker" in result.stdout
    assert [r.name for r in live_runs(server)] == ["a"]


def test_a_gateway_error_on_create_is_retried_after_looking(workdir: Path, server: BackgroundServer,
                                                            faults: Faults) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    faults.script("503", "POST", "/runs")
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert [r.name for r in live_runs(server)] == ["a"]


def test_invalid_config_and_unknown_blueprint_are_located(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config={"epochs": 0, "dataset_id": "d"}),
                    manifest("b", blueprint="no-such-blueprint"))
    for args in (("plan",), ("validate", "--online"), ("apply", "--auto-approve")):
        result = run_cli(*args)
        assert result.exit_code == 1, (args, result.output)
        text = result.output
        assert f"{Path('runs/a.yaml')}:" in text and "spec.config.epochs: 0 is less than the minimum of 1" in text
        assert "no-such-blueprint" in text
    assert live_runs(server) == []


def test_refused_credentials_are_a_clear_error(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                               clock: ManualClock) -> None:
    from chariot_apply.emulator.app import AuthConfig, create_app

    locked = EmulatorStore(":memory:", clock=clock)
    with BackgroundServer(create_app(locked, auth=AuthConfig(tokens={"right"}))) as guarded:
        monkeypatch.setenv("CHARIOT_URL", guarded.url)
        monkeypatch.setenv("CHARIOT_TOKEN", "wrong")
        write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
        result = run_cli("plan")
    assert result.exit_code == 1
    assert "Error[CA3003]: invalid bearer token (HTTP 401" in result.stderr
    assert "Hint: set CHARIOT_TOKEN" in result.stderr
    assert "wrong" not in result.output


def test_unreachable_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARIOT_URL", "http://127.0.0.1:9")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("plan")
    assert result.exit_code == 1 and "could not reach Chariot" in result.stderr and "CHARIOT_URL" in result.stderr


def test_status_lists_our_runs(workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=classifier_config(epochs=3)))
    run_cli("apply", "--auto-approve")
    create_directly(server, "not-ours")
    clock.advance(10)
    result = run_cli("status")
    assert result.exit_code == 0
    assert "vision/a@1.0.0" in result.stdout and "job_running" in result.stdout and "/30 steps" in result.stdout
    assert "not-ours" not in result.stdout


def test_a_saved_stop_of_a_run_that_finished_meanwhile_is_not_a_failure(workdir: Path, server: BackgroundServer,
                                                                        clock: ManualClock) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=classifier_config(epochs=100)))
    run_cli("apply", "--auto-approve")
    write_manifests(path, manifest("a", state="stopped", config=classifier_config(epochs=100)))
    result = run_cli("plan", "--out", "stop.json")
    assert "1 to stop" in result.stdout
    clock.advance(10_000)  # it completes before the saved plan is applied: the plan is stale
    stale = run_cli("apply", "stop.json", "--auto-approve")
    (run,) = live_runs(server)
    assert stale.exit_code == 1  # said once, of the one run that moved (issue 37: "run A ... when planned, run A now")
    assert f"run {(run.id or '')[:8]}… went from active to finished since the plan was made" in stale.stderr


def test_duplicate_owned_runs_are_deleted_by_the_next_apply(workdir: Path, server: BackgroundServer,
                                                            clock: ManualClock) -> None:
    """Two of our runs at one declared address (an apply that crashed between its create and its duplicate
    check): the next plan deletes the newer, --prune or not, so that applying converges anyway."""
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    run_cli("apply", "--auto-approve")
    (ours,) = live_runs(server)
    clock.advance(0.5)
    twin = create_directly(server, "a", notes=ours.notes)
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert f"duplicate of run {ours.id} (two applies created it at once; the oldest is kept)" in plan.stdout
    assert twin in plan.stdout and "1 to delete" in plan.stdout
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert [r.id for r in live_runs(server)] == [ours.id]  # the oldest, which has trained longest, is kept
