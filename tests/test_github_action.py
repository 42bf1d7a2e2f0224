"""The GitHub Action: its metadata, and its steps run end to end in a runner-like environment against the
emulator, commenting on a local GitHub stand-in, with real webhook payloads as GITHUB_EVENT_PATH."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from chariot_apply.emulator.server import BackgroundServer
from tests.action_harness import (
    ACTION,
    CHARIOT_TOKEN_VALUE,
    OPENED,
    PAYLOADS,
    ROOT,
    SYNCHRONIZE,
    TOKEN,
    _pr_number,
    _repository,
    chariot_inputs,
    merged,
    sticky,
)
from tests.action_harness import ActionRunner as Runner
from tests.factories import DATA, classifier_config, manifest, write_manifests
from tests.github_fake import LIMIT, FakeGitHub

SCHEMA = json.loads((DATA / "github" / "github-action.schema.json").read_text())


def test_action_metadata_validates_against_the_action_schema() -> None:
    jsonschema.validate(ACTION, SCHEMA)
    for kind, valid in (("positive", True), ("negative", False)):
        for example in (DATA / "github" / "github-action-schema-tests" / kind).glob("*.json"):
            assert jsonschema.Draft7Validator(SCHEMA).is_valid(json.loads(example.read_text())) is valid, example


def test_inputs_reach_scripts_only_through_the_environment() -> None:
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), name
    assert {"has-changes", "exitcode", "summary", "plan-json"} <= set(ACTION["outputs"])
    assert ACTION["runs"]["using"] == "composite"


def test_plan_posts_then_updates_one_comment(repo: Path, runner: Runner, server: BackgroundServer,
                                             github: FakeGitHub) -> None:
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    first = runner.run(repo, chariot_inputs(server), OPENED)
    assert first.returncode == 0, first.log
    assert first.outputs["has-changes"] == "true" and first.outputs["exitcode"] == "2"
    assert first.outputs["summary"].startswith("Plan: 1 to create")
    assert json.loads(Path(first.outputs["plan-json"]).read_text())["redacted"] is True
    assert "### chariot-apply plan" in first.summary
    (comment,) = sticky(github, OPENED)
    assert "vision/a@1.0.0" in comment["body"] and "Plan: 1 to create" in comment["body"]
    write_manifests(runs, manifest("a"), manifest("b"))
    second = runner.run(repo, chariot_inputs(server), SYNCHRONIZE)
    assert second.returncode == 0, second.log
    (updated,) = sticky(github, SYNCHRONIZE)
    assert updated["id"] == comment["id"] and "Plan: 2 to create" in updated["body"]
    assert [w[0] for w in github.writes] == ["create", "update"]


def test_the_sticky_comment_is_found_on_a_later_page(repo: Path, runner: Runner, server: BackgroundServer,
                                                     github: FakeGitHub) -> None:
    for i in range(230):  # a long discussion before the first plan: ours lands on page 3 of 100-comment pages
        github.add(_repository(OPENED), _pr_number(OPENED), f"comment {i}")
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    runner.run(repo, chariot_inputs(server), OPENED)
    write_manifests(runs, manifest("a"), manifest("b"))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    assert len(sticky(github, OPENED)) == 1 and [w[0] for w in github.writes] == ["create", "update"]
    assert "Plan: 2 to create" in sticky(github, OPENED)[0]["body"]


def test_a_read_only_token_warns_and_does_not_fail(repo: Path, runner: Runner, server: BackgroundServer,
                                                   github: FakeGitHub) -> None:
    github.readonly_tokens.add(TOKEN)
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    assert "::warning::GitHub refused to write" in result.log and "fork" in result.log
    assert "Plan: 1 to create" in result.summary and github.writes == []


def test_an_oversized_plan_is_cut_to_fit_keeping_the_summary(repo: Path, runner: Runner, server: BackgroundServer,
                                                             github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "many.yaml",
                    *[manifest(f"run-{i:03d}-{'x' * 60}", config=classifier_config(dataset_id="d" * 200))
                      for i in range(250)])
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    (comment,) = sticky(github, OPENED)
    assert len(comment["body"]) <= LIMIT
    assert "Plan: 250 to create" in comment["body"] and "details were cut" in comment["body"]
    assert "the artifact `chariot-apply-review-" in comment["body"] and "/actions/runs/" in comment["body"]
    assert result.summary.count("<details>") == 250


def test_a_refused_body_is_cut_further(repo: Path, runner: Runner, server: BackgroundServer,
                                      github: FakeGitHub) -> None:
    github.limit = 40_000  # GitHub counts differently than we do (say, bytes): the first body is refused
    write_manifests(repo / "training" / "runs" / "many.yaml",
                    *[manifest(f"run-{i:03d}-{'x' * 60}", config=classifier_config(dataset_id="d" * 200))
                      for i in range(250)])
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    (comment,) = sticky(github, OPENED)
    assert len(comment["body"]) <= 40_000 and "Plan: 250 to create" in comment["body"]


def test_no_changes_updates_the_comment_briefly(repo: Path, runner: Runner, server: BackgroundServer,
                                                github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    runner.run(repo, chariot_inputs(server), OPENED)
    applied = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                         event_name="push")
    assert applied.returncode == 0, applied.log
    again = runner.run(repo, chariot_inputs(server), SYNCHRONIZE)
    assert again.outputs["has-changes"] == "false" and again.outputs["exitcode"] == "0"
    (comment,) = sticky(github, SYNCHRONIZE)
    assert "No changes" in comment["body"] and "<details>" not in comment["body"]


def test_apply_mode_applies_what_was_reviewed(repo: Path, runner: Runner, server: BackgroundServer,
                                              github: FakeGitHub) -> None:
    from tests.factories import live_runs

    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"), manifest("b", project="nlp"))
    assert runner.run(repo, chariot_inputs(server), OPENED).returncode == 0
    result = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                        event_name="push")
    assert result.returncode == 0, result.log
    assert "reviewed: applying the plan shown in pull request #2" in result.log
    assert sorted(r.name for r in live_runs(server)) == ["a", "b"]
    assert "apply complete" in result.summary and result.outputs["exitcode"] == "0"
    outcome = [c for c in github.thread(_repository(OPENED), 2) if "chariot-apply:applied:" in c["body"]]
    assert len(outcome) == 1 and "vision/a@1.0.0" in outcome[0]["body"] and "✅ created" in outcome[0]["body"]
    ids = {r.id for r in live_runs(server)}
    assert all(run_id in outcome[0]["body"] for run_id in ids)


def test_errors_fail_the_step_with_annotations(repo: Path, runner: Runner, server: BackgroundServer) -> None:
    (repo / "training" / "runs" / "bad.yaml").write_text(
        "apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: x, version: '1'}\n"
        "spec:\n  blueprint: {name: image-classifier}\n  resources: {cpu: lots, memory: 1Gi}\n")
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 1
    assert result.outputs["exitcode"] == "1"
    assert re.search(r"::error file=[^,]*bad\.yaml,line=6,col=\d+,title=spec\.resources\.cpu::", result.log)
    bad_input = runner.run(repo, chariot_inputs(server, command="destroy"), OPENED)
    assert bad_input.returncode == 1
    assert "must be one of plan, apply, drift, reconcile, report, review, not 'destroy'" in bad_input.log


def test_refused_chariot_credentials_fail_the_step(repo: Path, runner: Runner, clock) -> None:
    from chariot_apply.emulator.app import AuthConfig, create_app
    from chariot_apply.emulator.store import EmulatorStore

    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    with BackgroundServer(create_app(EmulatorStore(":memory:", clock=clock),
                                     auth=AuthConfig(tokens={"other"}))) as guarded:
        result = runner.run(repo, chariot_inputs(guarded), OPENED)
    assert result.returncode == 1 and "::error::invalid bearer token" in result.log


def test_secrets_are_masked_and_never_shown(repo: Path, runner: Runner, server: BackgroundServer,
                                            github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml",
                    manifest("llm", blueprint="llm-fine-tune", blueprint_version=None,
                             config={"base_model": "phi-3-mini", "dataset_id": "d", "max_steps": 5,
                                     "hf_token": "hf_TOPSECRET"}))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert f"::add-mask::{CHARIOT_TOKEN_VALUE}" in result.log and f"::add-mask::{TOKEN}" in result.log
    shown = result.summary + sticky(github, OPENED)[0]["body"] + Path(result.outputs["plan-json"]).read_text()
    assert "hf_TOPSECRET" not in shown and CHARIOT_TOKEN_VALUE not in shown


def test_comment_command(repo: Path, server: BackgroundServer, github: FakeGitHub, github_server: BackgroundServer,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_helpers import run_cli

    monkeypatch.chdir(repo / "training")
    monkeypatch.setenv("CHARIOT_URL", server.url)
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(PAYLOADS / "pull_request_payloads" / "opened.with-null-body.json"))
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    for expected in ("created", "unchanged"):
        result = run_cli("github", "comment", "--plan", "plan.json")
        assert result.exit_code == 0 and f"pull request comment: {expected}" in result.stdout


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / name).read_text())
    workflow["on"] = workflow.pop(True) if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    return workflow


@pytest.mark.parametrize("name", ["chariot-apply.yml", "chariot-apply-drift.yml"])
def test_example_workflows_follow_the_rules(name: str) -> None:
    workflow = _workflow(name)
    assert workflow["permissions"] == {}  # least privilege: every job says what it needs
    for name_, job in workflow["jobs"].items():
        # Two credentials: the client that writes lives only where the default branch deploys (the apply);
        # plans and drift checks get the read-only one, on an environment any pull request may use.
        writes = name_ in ("apply", "reconcile")
        assert job["permissions"]["contents"] == "read"
        routed = "${{ needs.review.outputs.risk == 'low' && 'chariot' || 'chariot-high-risk' }}"
        assert job.get("environment") == {"apply": routed, "reconcile": "chariot-reconcile"}.get(name_,
                                                                                            "chariot-plan")
        secrets = str([s.get("with", {}) for s in job["steps"] if "chariot-apply" in s.get("uses", "")])
        if name_ == "review":  # reads GitHub only: no Chariot credential at all, and no writer's turn
            assert "secrets." not in secrets and "concurrency" not in job and "write" not in job["permissions"].values()
            continue
        assert ("CHARIOT_READER_CLIENT" in secrets) is not writes and ("secrets.CHARIOT_CLIENT_" in secrets) is writes
        if writes:
            assert job["permissions"]["actions"] == "read"  # to confirm the run that wrote the plan comment
            # Writers take turns (deployments) and wait in one queue, never cancelled (issue 34).
            assert job["permissions"]["deployments"] == "write"
            assert job["concurrency"] == {"group": "chariot-apply-writers", "cancel-in-progress": False,
                                          "queue": "max"}
        assert "concurrency" in job
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses and not uses.startswith("chariot-apply/"):  # third-party: a full commit SHA, version beside
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
        for step in job["steps"]:
            if "chariot-apply" in step.get("uses", ""):
                assert step["with"]["chariot-url"] == "${{ vars.CHARIOT_URL }}" and "secrets." in str(step["with"])
    text = (ROOT / "examples" / "github" / name).read_text()
    assert all(re.search(rf"{sha} # v\d", text) for sha in re.findall(r"@([0-9a-f]{40})", text))


def test_the_example_plans_per_pull_request_and_applies_one_at_a_time() -> None:
    jobs = _workflow("chariot-apply.yml")["jobs"]
    assert {"pull_request", "push"} <= set(_workflow("chariot-apply.yml")["on"])
    assert jobs["plan"]["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in jobs["plan"]["concurrency"]["group"]
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False  # a newer push waits; applies never race
    # The scheduled reconcile shares the apply's group: one writer per environment at a time.
    assert "schedule" in _workflow("chariot-apply.yml")["on"] and jobs["reconcile"]["if"] == \
        "github.event_name == 'schedule'"
    assert jobs["reconcile"]["concurrency"] == jobs["apply"]["concurrency"]
    assert jobs["reconcile"]["steps"][-1]["with"]["command"] == "reconcile"
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"
    drift = _workflow("chariot-apply-drift.yml")
    assert "schedule" in drift["on"] and drift["jobs"]["drift"]["permissions"]["issues"] == "write"
