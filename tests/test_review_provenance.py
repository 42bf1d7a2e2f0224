"""A review record only the plan run can write, at any size (issue 35). Every workflow of a repository comments
as the same bot, so the comment proves nothing by itself: the plan run keeps the whole record as its own
artifact (only that run can upload to it), and a merge trusts a comment only where it is the one the artifact of
the run it names describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.github.api import GitHubApi, MergedPull, PullRequest
from chariot_apply.github.comments import COMMENT_LIMIT, RECORD_FILE, Provenance, ReviewRecord, marker_for
from chariot_apply.github.gate import judge, read_review
from chariot_apply.github.pull_request import comment_plan
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.model import PlanOptions, PlanTarget
from tests.action_harness import OPENED, WORKFLOW, _repository, chariot_inputs, forge_comment, kept_plan, merged, sticky
from tests.action_harness import ActionRunner as Runner
from tests.factories import live_runs, manifest, write_manifests
from tests.github_fake import BASE_SHA, FakeGitHub
from tests.plan_factories import OWNER, declared, state

REPO = _repository(OPENED)
HEAD = json.loads(OPENED.read_text())["pull_request"]["head"]["sha"]
PULL = json.loads(OPENED.read_text())["pull_request"]["number"]
EVIL = ".github/workflows/added-by-the-pull-request.yml"


def plan_in_pr(repo: Path, runner: Runner, server: BackgroundServer, *names: str,
               workflow: str = WORKFLOW) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", *(manifest(n) for n in names))
    done = runner.run(repo, chariot_inputs(server), OPENED, workflow=workflow)
    assert done.returncode == 0, done.log


def merge(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub, *names: str) -> str:
    write_manifests(repo / "training" / "runs" / "a.yaml", *(manifest(n) for n in names))
    return runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push").log


def the_comment(github: FakeGitHub) -> dict:
    (comment,) = sticky(github, OPENED)
    return comment


def test_the_plan_run_keeps_the_record_as_its_own_artifact(repo: Path, runner: Runner, server: BackgroundServer,
                                                           github: FakeGitHub) -> None:
    plan_in_pr(repo, runner, server, "a")
    record = ReviewRecord.read(the_comment(github)["body"])
    assert record is not None and record.plan is None and record.digest  # the comment holds no plan
    (artifact,) = github.artifacts.values()
    assert artifact["run"] == record.provenance.run_id and artifact["name"].startswith("chariot-apply-review-")
    kept = kept_plan(github, the_comment(github))
    assert [i.address for i in kept.items if i.kind == "create"] == ["vision/a@1.0.0"]


def test_the_reproduction_a_forged_comment_citing_the_genuine_run_is_refused(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    """The plan run planned "a". A workflow the pull request adds plans "a" and "x" and rewrites the bot's comment
    consistently (record and text agree) as if the genuine run had written it: merge applies nothing."""
    plan_in_pr(repo, runner, server, "a")
    genuine = ReviewRecord.read(the_comment(github)["body"])
    assert genuine is not None
    plan_in_pr(repo, runner, server, "a", "x", workflow=EVIL)  # edits the same sticky comment, as the same bot
    wider = the_comment(github)
    forged = forge_comment(wider, github, plan=kept_plan(github, wider), run_id=genuine.provenance.run_id,
                    workflow=WORKFLOW)
    github.comments[wider["id"]]["body"] = forged
    log = merge(repo, runner, server, github, "a", "x")
    assert "cannot be trusted" in log and f"not the one workflow run {genuine.provenance.run_id} recorded" in log, log
    assert live_runs(server) == []


def test_a_newer_forged_comment_is_refused_too(repo: Path, runner: Runner, server: BackgroundServer,
                                               github: FakeGitHub) -> None:
    """Posted beside the genuine one rather than over it: the newest is read, and refused."""
    plan_in_pr(repo, runner, server, "a")
    genuine = the_comment(github)
    record = ReviewRecord.read(genuine["body"])
    assert record is not None
    reviewed = kept_plan(github, genuine)
    wider = build_plan([declared("a"), declared("x")], state(), PlanOptions(owner=OWNER))
    wider = wider.model_copy(update={"target": reviewed.target})
    marker = genuine["body"].split("\n", 1)[0]
    from chariot_apply.github.comments import plan_comment_text

    github.add(REPO, PULL, plan_comment_text(marker, wider, record.provenance), user="github-actions[bot]")
    log = merge(repo, runner, server, github, "a", "x")
    assert "cannot be trusted" in log and live_runs(server) == [], log


def test_a_comment_whose_run_kept_no_record_is_unreviewed(repo: Path, runner: Runner, server: BackgroundServer,
                                                          github: FakeGitHub) -> None:
    plan_in_pr(repo, runner, server, "a")
    github.artifacts.clear()  # the upload failed, or the record expired
    log = merge(repo, runner, server, github, "a")
    assert "keeps no review record" in log and "re-run the plan" in log and live_runs(server) == [], log


def test_a_genuine_comment_read_back_with_crlf_line_endings_applies(repo: Path, runner: Runner,
                                                                    server: BackgroundServer,
                                                                    github: FakeGitHub) -> None:
    plan_in_pr(repo, runner, server, "a", "b")
    comment = the_comment(github)
    github.comments[comment["id"]]["body"] = comment["body"].replace("\n", "\r\n")
    log = merge(repo, runner, server, github, "a", "b")
    assert "reviewed: applying the plan shown in pull request" in log, log
    assert sorted(r.name for r in live_runs(server)) == ["a", "b"]


def test_a_2000_run_pull_request_merges_reviewed(repo: Path, runner: Runner, server: BackgroundServer,
                                                 github: FakeGitHub) -> None:
    """The reproduction: past about 1,500 runs the record no longer fit a comment and the merge was unreviewed."""
    names = [f"sweep-{i:04d}" for i in range(2_000)]
    plan_in_pr(repo, runner, server, *names)
    comment = the_comment(github)
    assert len(comment["body"]) <= COMMENT_LIMIT and "Plan: 2000 to create" in comment["body"]
    log = merge(repo, runner, server, github, *names)
    assert "reviewed: applying the plan shown in pull request" in log, log[-2000:]
    assert len(live_runs(server)) == 2_000


@pytest.mark.parametrize("count", [2_000, 20_000])
def test_a_large_plan_is_reviewed_at_merge(count: int, github: FakeGitHub,
                                               github_server: BackgroundServer) -> None:
    """Planned, commented and kept as the plan run would; read back at merge as the gate does: trusted, and
    covering each of the 20,000 creates."""
    run_id = github.record_run(REPO, HEAD, WORKFLOW, "pull_request")
    plan = build_plan([declared(f"run-{i:05d}") for i in range(count)], state(), PlanOptions(owner=OWNER))
    plan = plan.model_copy(update={"target": PlanTarget(server="https://chariot.example", commit=HEAD)})
    marker = marker_for("prod")
    provenance = Provenance(run_id, WORKFLOW, REPO, "https://github.com")
    with GitHubApi(github_server.url, "ghs_token") as api:
        _, record = comment_plan(api, PullRequest(REPO, PULL), marker, plan, provenance)
        github.upload_artifact(run_id, "chariot-apply-review-prod-default",
                               {RECORD_FILE: record.artifact_text(marker).encode()})
        review = read_review(api, REPO, MergedPull(PULL, HEAD, "f" * 40, True, BASE_SHA), marker, "prod", WORKFLOW)
    assert review.trusted, review.doubt
    verdict = judge(plan, [review], on_unreviewed=False, on_diverged=False, context=[])
    assert verdict.go and len(verdict.covering) == count
