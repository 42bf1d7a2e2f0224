"""Approvals, not labels, for what is dangerous (issue 35): a label is a signal anyone with triage rights (or
the pull request's own workflow) can set; the permission is an approving review of the last commit by someone
with write access, read through the reviews API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.action_harness import OPENED, _repository, chariot_inputs, merged
from tests.action_harness import ActionRunner as Runner
from tests.factories import classifier_config, live_runs, manifest, write_manifests
from tests.github_fake import FakeGitHub

REPO = _repository(OPENED)
PAYLOAD = json.loads(OPENED.read_text())
HEAD = PAYLOAD["pull_request"]["head"]["sha"]
PULL = PAYLOAD["pull_request"]["number"]
LONG = classifier_config(epochs=200)


def labelled(tmp: Path, *labels: str) -> Path:
    event = tmp / f"labelled-{len(labels)}.json"
    payload = json.loads(OPENED.read_text())
    payload["pull_request"]["labels"] = [{"name": n} for n in labels]
    event.write_text(json.dumps(payload))
    return event


def declare(repo: Path, **spec: object) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("keep", config=LONG, protect=True, **spec))


def a_protected_run_training(repo: Path, runner: Runner, server: BackgroundServer) -> None:
    declare(repo)
    dispatch = chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"})
    assert runner.run(repo, dispatch, OPENED, event_name="workflow_dispatch").returncode == 0


def stop_it_in_a_pull_request(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> str:
    """The pull request stops the protected run, labelled so that its plan shows the stop; then it merges."""
    declare(repo, state="stopped")
    planned = runner.run(repo, chariot_inputs(server), labelled(runner.tmp, "chariot-apply: allow-protected"))
    assert planned.returncode == 0 and planned.outputs["risk"] == "high", planned.log
    return runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push").log


def status_of_keep(server: BackgroundServer) -> str:
    (run,) = live_runs(server)
    return str(run.status)


@pytest.mark.parametrize("approval", [None, "stale", "read-only", "withdrawn"])
def test_a_label_without_an_approval_changes_nothing(approval: str | None, repo: Path, runner: Runner,
                                                     server: BackgroundServer, github: FakeGitHub,
                                                     clock: ManualClock) -> None:
    a_protected_run_training(repo, runner, server)
    clock.advance(60)
    github.permissions |= {"maintainer": "write", "visitor": "read"}
    if approval == "stale":
        github.review(REPO, PULL, "maintainer", "APPROVED", "0" * 40)  # before the last push
    elif approval == "read-only":
        github.review(REPO, PULL, "visitor", "APPROVED", HEAD)
    elif approval == "withdrawn":
        github.review(REPO, PULL, "maintainer", "APPROVED", HEAD)
        github.review(REPO, PULL, "maintainer", "CHANGES_REQUESTED", HEAD)
    github.pulls.clear()
    log = stop_it_in_a_pull_request(repo, runner, server, github)
    assert "stop" not in status_of_keep(server) and "terminat" not in status_of_keep(server), log
    said = {None: "has no approving review", "stale": "before its last push", "read-only": "has no approving review",
            "withdrawn": "has no approving review"}[approval]
    assert f"protected runs: pull request #{PULL} " in log and said in log and "the run is protected" in log, log


def test_an_approval_of_the_last_commit_by_a_writer_lets_it_stop(repo: Path, runner: Runner,
                                                                 server: BackgroundServer, github: FakeGitHub,
                                                                 clock: ManualClock) -> None:
    a_protected_run_training(repo, runner, server)
    clock.advance(60)
    github.permissions["maintainer"] = "write"
    github.review(REPO, PULL, "maintainer", "APPROVED", HEAD)
    log = stop_it_in_a_pull_request(repo, runner, server, github)
    assert "approved by maintainer" in log, log
    assert status_of_keep(server) in ("run_stop_requested", "job_terminate_requested", "job_terminating",
                                      "job_terminated"), log


def test_a_high_risk_plan_needs_an_approval_to_apply(repo: Path, runner: Runner, server: BackgroundServer,
                                                     github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest(
        "big", resources_={"cpu": "8", "memory": "64Gi", "gpu": {"count": 9, "type": "A100"}}))
    planned = runner.run(repo, chariot_inputs(server), labelled(runner.tmp, "chariot-apply: high-risk"))
    assert planned.outputs["risk"] == "high", planned.log
    push = merged(runner.tmp, github, OPENED)
    refused = runner.run(repo, chariot_inputs(server, command="apply"), push, event_name="push")
    assert refused.returncode == 1 and "needs an approving review" in refused.log and live_runs(server) == []
    github.permissions["maintainer"] = "admin"
    github.review(REPO, PULL, "maintainer", "APPROVED", HEAD)
    approved = runner.run(repo, chariot_inputs(server, command="apply"), push, event_name="push")
    assert approved.returncode == 0, approved.log
    assert [r.name for r in live_runs(server)] == ["big"]


def test_approvals_for_none_keeps_the_label_rule(repo: Path, runner: Runner, server: BackgroundServer,
                                                 github: FakeGitHub, clock: ManualClock) -> None:
    a_protected_run_training(repo, runner, server)
    clock.advance(60)
    github.pulls.clear()
    declare(repo, state="stopped")
    event = labelled(runner.tmp, "chariot-apply: allow-protected")
    inputs = {"approvals-for": "none"}
    assert runner.run(repo, chariot_inputs(server, **inputs), event).returncode == 0
    push = merged(runner.tmp, github, event)
    github.pulls[(REPO, "f" * 40)][-1]["labels"] = [{"name": "chariot-apply: allow-protected"}]
    done = runner.run(repo, chariot_inputs(server, command="apply", **inputs), push, event_name="push")
    assert done.returncode == 0, done.log
    assert status_of_keep(server) in ("run_stop_requested", "job_terminate_requested", "job_terminating",
                                      "job_terminated"), done.log


@pytest.mark.parametrize(("gpus", "risk"), [(9, "high"), (1, "low"), (None, "high")])
def test_the_review_job_routes_by_the_reviewed_risk(gpus: int | None, risk: str, repo: Path, runner: Runner,
                                                    server: BackgroundServer, github: FakeGitHub) -> None:
    """`command: review` on the push: the risk of what the merge applies, from the reviewed plan (its run's
    artifact), before the apply job starts; a merge whose plan cannot be proven is routed as high."""
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest(
        "big", resources_={"cpu": "8", "memory": "64Gi", "gpu": {"count": gpus or 1, "type": "A100"}}))
    assert runner.run(repo, chariot_inputs(server), OPENED).returncode == 0
    if gpus is None:
        github.artifacts.clear()  # the plan run's record is gone: nothing proves what was reviewed
    push = merged(runner.tmp, github, OPENED)
    routed = runner.run(repo, {"command": "review", "chariot-url": server.url, "working-directory": "training"},
                        push, event_name="push")
    assert routed.returncode == 0 and routed.outputs["risk"] == risk, routed.log
    assert ("adds 9 GPUs" in routed.outputs["risk-reasons"]) == (gpus == 9)
    assert live_runs(server) == []  # it reads GitHub only


def test_the_example_workflow_routes_the_apply_through_the_review_job() -> None:
    """What actionlint checks of the routing (`needs.<job>.outputs.<name>` must name a job the apply needs, and
    an output that job declares): the docs' former `needs.plan.outputs.risk` failed it, since the plan job runs
    on pull_request. (actionlint itself, run on this file, finds nothing else but its own unknown `vars` and
    `queue`: newer than its schema.)"""
    import re

    import yaml

    workflow = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "github"
                               / "chariot-apply.yml").read_text())
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        for other, output in re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", json.dumps(job)):
            assert other in needs, f"{name} reads needs.{other} without needing it"
            assert output in jobs[other].get("outputs", {}), f"{other} declares no output {output}"
    assert "needs.review.outputs.risk" in jobs["apply"]["environment"]
    assert jobs["review"]["if"] == jobs["apply"]["if"] == "github.event_name == 'push'"
    step = jobs["review"]["steps"][-1]["with"]
    assert step["command"] == "review" and not {"client-id", "client-secret", "token"} & set(step)  # no credentials


def test_policy_violations_are_annotated_on_their_manifest_lines(repo: Path, runner: Runner,
                                                                  server: BackgroundServer) -> None:
    """Each broken rule shows on the diff line that breaks it (file= and line=, relative to the checkout)."""
    import re

    project = repo / "training" / "chariot-apply.yaml"
    project.write_text(project.read_text() + "policy:\n  maxGpusPerRun: 2\n  requiredNotes: true\n")
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest(
        "big", resources_={"cpu": "8", "memory": "64Gi", "gpu": {"count": 4, "type": "A100"}}))
    done = runner.run(repo, chariot_inputs(server), OPENED)
    annotations = [line for line in done.log.splitlines() if line.startswith("::error")]
    assert done.returncode == 1 and len(annotations) >= 2, done.log
    for line in annotations[:-1]:  # the last one is the step's summary of them
        assert re.match(r"::error file=training/runs/a\.yaml,line=\d+,col=\d+,title=", line), line


def test_a_fork_pull_request_without_secrets_gets_one_notice(repo: Path, runner: Runner, server: BackgroundServer,
                                                             auth: object, tmp_path: Path) -> None:
    """The reproduction: a fork's run has no secrets, and the plan failed with "invalid bearer token (HTTP 401)"."""
    auth.tokens.add("right")  # type: ignore[attr-defined]
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    fork = tmp_path / "fork.json"
    payload = json.loads(OPENED.read_text())
    payload["pull_request"]["head"]["repo"] = payload["pull_request"]["head"]["repo"] | {
        "full_name": "someone/Hello-World", "fork": True}
    fork.write_text(json.dumps(payload))
    done = runner.run(repo, chariot_inputs(server, token=""), fork)
    assert done.returncode == 0 and done.outputs["exitcode"] == "0", done.log
    notices = [line for line in done.log.splitlines() if line.startswith("::notice")]
    assert len(notices) == 1 and "fork" in notices[0] and "pull_request_target" in notices[0], done.log
    assert "401" not in done.log and "::error" not in done.log
