"""What was seen is what is approved (issue 19). Every workflow of a repository comments as the same bot, so a
pull request's own workflow can post or edit the plan comment: merge must accept a review record only if the
comment's visible text is what our renderer makes of that record, and the record names a run of the plan
workflow, as the base branch defines it, on the pull request's head commit. Each forgery ends unreviewed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chariot_apply.emulator.server import BackgroundServer
from tests.action_harness import OPENED, WORKFLOW, _repository, chariot_inputs, forge_comment, merged, sticky
from tests.action_harness import ActionRunner as Runner
from tests.factories import live_runs, manifest, write_manifests
from tests.github_fake import FakeGitHub

REPO = _repository(OPENED)
HEAD = json.loads(OPENED.read_text())["pull_request"]["head"]["sha"]


def _plan_comment(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub, *names: str) -> dict:
    write_manifests(repo / "training" / "runs" / "a.yaml", *(manifest(n) for n in names))
    assert runner.run(repo, chariot_inputs(server), OPENED).returncode == 0
    (comment,) = sticky(github, OPENED)
    return comment


def _merge(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub, *names: str) -> str:
    """Merge with ``names`` declared: the apply's log."""
    write_manifests(repo / "training" / "runs" / "a.yaml", *(manifest(n) for n in names))
    done = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push")
    return done.log


def test_the_genuine_comment_is_applied(repo: Path, runner: Runner, server: BackgroundServer,
                                        github: FakeGitHub) -> None:
    _plan_comment(repo, runner, server, github, "a")
    log = _merge(repo, runner, server, github, "a")
    assert "reviewed: applying the plan shown in pull request #2" in log, log
    assert [r.name for r in live_runs(server)] == ["a"]


def test_a_record_wider_than_the_visible_plan_is_unreviewed(repo: Path, runner: Runner, server: BackgroundServer,
                                                            github: FakeGitHub) -> None:
    """The reproduction: a bot-authored copy whose record allows "a" and "b" while its text shows only "a"."""
    wide = _plan_comment(repo, runner, server, github, "a", "b")
    wide_record = wide["body"].split("\n")[1]
    narrow = _plan_comment(repo, runner, server, github, "a")
    lines = narrow["body"].split("\n")
    github.comments[narrow["id"]]["body"] = "\n".join([lines[0], wide_record, *lines[2:]])
    log = _merge(repo, runner, server, github, "a", "b")
    assert "cannot be trusted" in log and "visible text is not what its review record says" in log, log
    assert live_runs(server) == []


@pytest.mark.parametrize(("forgery", "said"), [
    ("other-commit", "not the pull request's head"),
    ("other-workflow", "not the plan workflow"),
    ("other-repository", f"written by a run in someone/else, not {REPO}"),
    ("no-run", "does not say which workflow run wrote it"),
    ("unknown-run", "could not confirm"),
])
def test_a_record_from_elsewhere_is_unreviewed(forgery: str, said: str, repo: Path, runner: Runner,
                                               server: BackgroundServer, github: FakeGitHub) -> None:
    comment = _plan_comment(repo, runner, server, github, "a")
    match forgery:
        case "other-commit":
            forged = forge_comment(comment, github, run_id=github.record_run(REPO, "c" * 40, WORKFLOW, "pull_request"))
        case "other-workflow":
            evil = ".github/workflows/evil.yml"
            forged = forge_comment(comment, github, run_id=github.record_run(REPO, HEAD, evil, "pull_request"),
                                   workflow=evil)
        case "other-repository":
            forged = forge_comment(comment, github, repository="someone/else")
        case "no-run":
            forged = forge_comment(comment, github, run_id=None)
        case "unknown-run":
            forged = forge_comment(comment, github, run_id=123)
    github.comments[comment["id"]]["body"] = forged
    log = _merge(repo, runner, server, github, "a")
    assert "cannot be trusted" in log and said in log, log
    assert live_runs(server) == []


def test_a_pull_request_that_changes_the_plan_workflow_is_unreviewed(repo: Path, runner: Runner,
                                                                     server: BackgroundServer,
                                                                     github: FakeGitHub) -> None:
    """Its plan job ran the branch's definition of the workflow: what it posted proves nothing."""
    github.files[(REPO, WORKFLOW, HEAD)] = "blob-the-pull-request-wrote"
    _plan_comment(repo, runner, server, github, "a")
    log = _merge(repo, runner, server, github, "a")
    assert f"the pull request changed {WORKFLOW}" in log, log
    assert live_runs(server) == []


def test_apply_on_a_pull_request_event_is_refused_unless_allowed(repo: Path, runner: Runner,
                                                                 server: BackgroundServer) -> None:
    """A same-repository pull request runs its own branch's workflow: `command: apply` there would apply it
    unreviewed with the apply credentials."""
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    refused = runner.run(repo, chariot_inputs(server, command="apply"), OPENED)
    assert refused.returncode == 1 and "allow-apply-on-pull-request" in refused.log and live_runs(server) == []
    allowed = runner.run(repo, chariot_inputs(server, command="apply", **{"allow-apply-on-pull-request": "true"}),
                         OPENED)
    assert allowed.returncode == 0, allowed.log
    assert [r.name for r in live_runs(server)] == ["a"]


def test_apply_on_pull_request_target_warns(repo: Path, runner: Runner, server: BackgroundServer) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    done = runner.run(repo, chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"}), OPENED,
                      event_name="pull_request_target")
    assert "::warning::command: apply on a pull_request_target event" in done.log
