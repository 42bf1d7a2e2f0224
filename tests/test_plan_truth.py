"""A plan that tells the truth: what the apply after it would fail on fails the plan too; owned runs no
manifest declares are always shown; a --target that matches nothing is an error, not "No changes"."""

from __future__ import annotations

import json
from pathlib import Path

from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, create_directly, manifest, write_manifests


def test_a_conflict_fails_the_plan_like_the_apply(workdir: Path, server: BackgroundServer) -> None:
    create_directly(server, "a")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 1
    assert "No changes to make, but 1 declared run(s) need attention." in plan.stdout
    assert "1 need attention: 1 conflict." in plan.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 1


def test_a_blocked_replace_fails_the_plan(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(path, manifest("a", config=classifier_config(epochs=3)))
    plan = run_cli("plan")
    assert plan.exit_code == 1 and "1 blocked replace" in plan.stdout
    as_json = json.loads(run_cli("plan", "--format", "json").stdout)
    assert as_json["counts"]["blocked-replace"] == 1


def test_owned_runs_no_manifest_declares_are_shown_without_prune(workdir: Path, server: BackgroundServer) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", version="1.0.0"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(path, manifest("a", version="2.0.0"))  # a version bump: the old run keeps training
    plan = run_cli("plan")
    assert plan.exit_code == 0, plan.output
    assert "vision/a@1.0.0: not declared: deleted with --prune" in plan.stdout
    assert "1 not declared (deleted with --prune)." in plan.stdout
    pruned = run_cli("plan", "--prune")
    assert '- run "vision/a@1.0.0"' in pruned.stdout and "1 to delete" in pruned.stdout


def test_a_target_that_matches_nothing_is_an_error(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("yolo-traffic", version="1.0.0"),
                    manifest("yolo-traffic", version="2.0.0"), manifest("other"))
    typo = run_cli("plan", "--target", "vision/yolo-trafic")
    assert typo.exit_code == 1 and "'vision/yolo-trafic' matches no run" in typo.stderr
    assert run_cli("plan", "--exclude", "nlp/*").exit_code == 1
    every_version = run_cli("plan", "--target", "vision/yolo-traffic")  # no @version: every version
    assert every_version.exit_code == 0, every_version.output
    assert "Plan: 2 to create" in every_version.stdout and "vision/other" not in every_version.stdout


def test_a_saved_plan_is_applied_only_where_and_as_whom_it_was_made(workdir: Path, server: BackgroundServer,
                                                                   monkeypatch) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    saved = run_cli("plan", "--out", "plan.json")
    assert saved.stdout.startswith(f"Plan for Chariot {server.url} · backend rest · owner team-test")
    assert json.loads((workdir / "plan.json").read_text())["plan"]["target"]["server"] == server.url
    elsewhere = run_cli("apply", "plan.json", "--chariot-url", "http://127.0.0.1:9")
    assert elsewhere.exit_code == 1 and f"this plan was made for {server.url}" in elsewhere.stderr
    other_owner = run_cli("apply", "plan.json", "--owner", "someone-else")
    assert other_owner.exit_code == 1 and "made for owner 'team-test'" in other_owner.stderr
    monkeypatch.delenv("CHARIOT_URL")
    embedded = run_cli("apply", "plan.json")
    assert embedded.exit_code == 1 and "not embedded emulator" in embedded.stderr
