"""Merged means applied (issue 34), with the runner stand-in running action.yml's steps against the GitHub fake and
a served emulator: a merge whose apply was cancelled is caught up by the next merge or the next reconcile, under
the review of the pull request that merged it; what no review covers is named and not applied; writers on two
runners take turns, so nothing is made twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.action_harness import ActionRunner, StepRun, branch_event, chariot_inputs, merged, pull_request_event
from tests.factories import checkpoints_and_models, classifier_config, live_runs, manifest, write_manifests
from tests.github_fake import FakeGitHub

Runner = ActionRunner
REPO = "Codertocat/Hello-World"


def manifests(repo: Path, *names: str) -> None:
    write_manifests(repo / "training" / "runs" / "runs.yaml", *(manifest(n) for n in names))


def review(runner: Runner, repo: Path, server: BackgroundServer, number: int, *names: str) -> Path:
    """Pull request ``number`` whose branch declares ``names``: planned, its plan commented."""
    manifests(repo, *names)
    event = pull_request_event(runner.tmp, number, f"{number:040x}")
    assert runner.run(repo, chariot_inputs(server), event).returncode == 0
    return event


def apply_merge(runner: Runner, repo: Path, server: BackgroundServer, push: Path, **inputs: str) -> StepRun:
    return runner.run(repo, chariot_inputs(server, command="apply", **inputs), push, event_name="push")


def test_three_merges_in_a_row_with_the_middle_apply_cancelled_end_all_applied(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    """The reproduction: merge 2's apply was cancelled (GitHub keeps one pending run per concurrency group), and
    merge 3 then failed "diverged … + vision/b@1.0.0 create". Now merge 3 applies b under pull request #102's
    review and c under #103's."""
    first = review(runner, repo, server, 101, "a")
    manifests(repo, "a")
    assert apply_merge(runner, repo, server, merged(runner.tmp, github, first, "1" * 40)).returncode == 0
    second = review(runner, repo, server, 102, "a", "b")
    merged(runner.tmp, github, second, "2" * 40)  # its apply is cancelled: it never runs
    third = review(runner, repo, server, 103, "a", "c")  # branched before #102 merged: its plan shows only c
    manifests(repo, "a", "b", "c")  # the default branch after the third merge
    done = apply_merge(runner, repo, server, merged(runner.tmp, github, third, "3" * 40))
    assert done.returncode == 0, done.log
    assert "catching up 2 commits" in done.log and "what pull requests #102, #103 showed" in done.log
    assert sorted(r.name for r in live_runs(server)) == ["a", "b", "c"]
    outcomes = {n: [c["body"] for c in github.thread(REPO, n) if "chariot-apply:applied:" in c["body"]]
                for n in (102, 103)}
    assert "vision/b@1.0.0" in outcomes[102][0] and "vision/c@1.0.0" not in outcomes[102][0]
    assert "vision/c@1.0.0" in outcomes[103][0]
    again = apply_merge(runner, repo, server, branch_event(runner.tmp, github, "4" * 40, "push"))
    assert again.returncode == 0 and len(live_runs(server)) == 3, again.log  # nothing left: nothing twice


def test_the_next_reconcile_catches_up_a_cancelled_merge(repo: Path, runner: Runner, server: BackgroundServer,
                                                          github: FakeGitHub) -> None:
    first = review(runner, repo, server, 101, "a")
    manifests(repo, "a")
    assert apply_merge(runner, repo, server, merged(runner.tmp, github, first, "1" * 40)).returncode == 0
    second = review(runner, repo, server, 102, "a", "b")
    merged(runner.tmp, github, second, "2" * 40)  # cancelled
    scheduled = runner.run(repo, chariot_inputs(server, command="reconcile"),
                           branch_event(runner.tmp, github, "2" * 40), event_name="schedule")
    assert scheduled.returncode == 0, scheduled.log
    assert "reviewed: applying the plan shown in pull request #102" in scheduled.log
    assert sorted(r.name for r in live_runs(server)) == ["a", "b"]
    quiet = runner.run(repo, chariot_inputs(server, command="reconcile"), branch_event(runner.tmp, github, "2" * 40),
                       event_name="schedule")
    assert quiet.returncode == 0 and "not applied" not in quiet.log and len(live_runs(server)) == 2, quiet.log


def test_what_no_merged_review_covers_is_named_and_nothing_is_applied(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    """Merge 2 had no plan comment; its run cannot be caught up under any review: merge 3 says which change and
    which pull request, and applies nothing (not even what #103 reviewed: a plan is applied whole or not at all)."""
    first = review(runner, repo, server, 101, "a")
    manifests(repo, "a")
    assert apply_merge(runner, repo, server, merged(runner.tmp, github, first, "1" * 40)).returncode == 0
    manifests(repo, "a", "b")
    merged(runner.tmp, github, pull_request_event(runner.tmp, 102, f"{102:040x}"), "2" * 40)  # never planned
    third = review(runner, repo, server, 103, "a", "c")
    manifests(repo, "a", "b", "c")
    refused = apply_merge(runner, repo, server, merged(runner.tmp, github, third, "3" * 40))
    assert refused.returncode == 1, refused.log
    assert "diverged from the plan reviewed in pull request #103" in refused.log
    assert "+ vision/b@1.0.0 create" in refused.log and "pull request #102 shows no plan" in refused.log
    assert [r.name for r in live_runs(server)] == ["a"]


def test_an_apply_waits_for_another_runners_writer_and_a_reconcile_leaves_it_be(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    """Another run of the repository is writing to the same environment (its deployment in progress, its run still
    running): an apply waits its turn, and past writer-wait writes nothing; a reconcile does nothing at once."""
    from chariot_apply.github.api import GitHubApi

    busy = github.record_run(REPO, "1" * 40, ".github/workflows/chariot-apply.yml", "push")
    api = GitHubApi(runner.github_url, "ghs_other")
    other = api.create_deployment(REPO, "1" * 40, "127.0.0.1", "chariot-apply",
                                  {"run_id": busy, "command": "apply"}, "another runner")
    api.set_deployment_state(REPO, other.id, "in_progress", "at work")
    event = review(runner, repo, server, 101, "a")
    refused = apply_merge(runner, repo, server, merged(runner.tmp, github, event, "1" * 40), **{"writer-wait": "1s"})
    assert refused.returncode == 1 and "waiting for another writer to 127.0.0.1" in refused.log, refused.log
    assert f"apply of workflow run {busy}" in refused.log and live_runs(server) == []
    skipped = runner.run(repo, chariot_inputs(server, command="reconcile"), branch_event(runner.tmp, github, "1" * 40),
                         event_name="schedule")
    assert skipped.returncode == 0 and "reconcile: nothing done: another writer" in skipped.log, skipped.log
    github.finish_run(busy, "cancelled")  # that run is gone: its record no longer holds anyone up
    assert apply_merge(runner, repo, server, branch_event(runner.tmp, github, "1" * 40, "push")).returncode == 0
    assert [r.name for r in live_runs(server)] == ["a"]


@pytest.mark.slow
def test_an_apply_and_a_reconcile_on_two_runners_make_nothing_twice(
        repo: Path, tmp_path: Path, server: BackgroundServer, github: FakeGitHub, github_server: BackgroundServer,
        clock: ManualClock) -> None:
    """The reproduction: an apply and a reconcile at the same time made `lr-winner@1.0.0` twice. Two runners (two
    machines: writers' locks of their own), 50 rounds, each a new model version due on a finished run: one model
    each round, one run in all."""
    runners = []
    for i in (1, 2):
        place = tmp_path / f"machine-{i}"
        place.mkdir()
        runners.append(ActionRunner(place, github_server.url, github,
                                    machine={"CHARIOT_APPLY_LOCK_DIR": str(place / "locks")}))
    promoting = {"config": classifier_config(epochs=2)}
    write_manifests(repo / "training" / "runs" / "runs.yaml", manifest("a", **promoting))
    first = runners[0].run(repo, chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"}),
                           branch_event(tmp_path, github, f"{0:040x}", "push"), event_name="push")
    assert first.returncode == 0, first.log
    clock.advance(3600)  # trained and finished
    for round_ in range(1, 51):
        version = f"1.0.{round_}"
        write_manifests(repo / "training" / "runs" / "runs.yaml", manifest("a", promote=[
            {"model": {"name": "lr-winner", "version": version}, "checkpoint": {"select": "last"}}], **promoting))
        sha = f"{round_:040x}"
        events = [(runners[0], "apply", branch_event(tmp_path, github, sha, "push"), "push"),
                  (runners[1], "reconcile", branch_event(tmp_path, github, sha), "schedule")]
        results: list[StepRun] = []

        def run(which: ActionRunner, command: str, event: Path, name: str, results: list[StepRun] = results) -> None:
            results.append(which.run(repo, chariot_inputs(server, command=command, **{"on-unreviewed": "apply"}),
                                     event, event_name=name))

        threads = [threading.Thread(target=run, args=args) for args in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(r.returncode == 0 for r in results), [r.log for r in results]
        models = [m for m in checkpoints_and_models(server)[1] if m.name == "lr-winner" and m.version == version]
        assert len(models) == 1, (round_, [r.log for r in results])
    assert len(live_runs(server)) == 1
