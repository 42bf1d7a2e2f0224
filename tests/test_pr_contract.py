"""The pull request is the contract: what the plan comment showed is what merge applies, to the Chariot the
workflow named. Runner-like: the action's own `run:` steps, the local GitHub stand-in, the served emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.github.runner import STEP_SUMMARY_LIMIT
from chariot_apply.github.runner import Runner as RunnerFiles
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.model import PlanOptions
from chariot_apply.render.markdown import render_markdown
from tests.action_harness import OPENED, SYNCHRONIZE, _repository, chariot_inputs, merged, sticky
from tests.action_harness import ActionRunner as Runner
from tests.factories import (
    checkpoints_and_models,
    classifier_config,
    create_directly,
    live_runs,
    manifest,
    write_manifests,
)
from tests.github_fake import FakeGitHub
from tests.plan_factories import declared, state

PR = 2


@pytest.fixture
def catcher() -> Iterator[tuple[BackgroundServer, list[str]]]:
    """A host that must never be called: it records every request it gets."""
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(path: str, request: Request) -> JSONResponse:
        seen.append(f"{request.method} /{path} {(await request.body())[:200]!r}")
        return JSONResponse({"error": "no"}, status_code=500)

    with BackgroundServer(app) as server:
        yield server, seen


def _branch_points_server_url_at(repo: Path, host: BackgroundServer) -> None:
    """The checked-out branch's project file names another server (a branch can say anything)."""
    project_file = repo / "training" / "chariot-apply.yaml"
    project_file.write_text(project_file.read_text() + f"server: {{url: {host.url}}}\n")
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))


def test_an_empty_chariot_url_is_refused_and_server_url_never_used(
        repo: Path, runner: Runner, github: FakeGitHub, catcher: tuple[BackgroundServer, list[str]]) -> None:
    host, seen = catcher
    _branch_points_server_url_at(repo, host)
    inputs = {"client-id": "me", "client-secret": "s3cret-value", "working-directory": "training"}
    for command in ("plan", "apply"):
        result = runner.run(repo, inputs | {"command": command}, OPENED)
        assert result.returncode == 1
        assert "the chariot-url input is empty" in result.log and "`embedded`" in result.log
    assert seen == []  # the branch's server.url never received the client secret


def test_the_action_uses_the_input_url_not_the_project_files(
        repo: Path, runner: Runner, server: BackgroundServer, catcher: tuple[BackgroundServer, list[str]]) -> None:
    host, seen = catcher
    _branch_points_server_url_at(repo, host)
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    assert f"Plan for Chariot {server.url}" in result.log and seen == []


def test_embedded_is_said_first_everywhere(repo: Path, runner: Runner, github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    result = runner.run(repo, {"chariot-url": "embedded", "token": "given", "working-directory": "training"}, OPENED)
    assert result.returncode == 0, result.log
    log_lines = [line for line in result.log.splitlines() if not line.startswith("::add-mask::")]
    assert "EMBEDDED EMULATOR" in log_lines[0]
    assert "EMBEDDED EMULATOR" in result.summary.splitlines()[0]
    (comment,) = sticky(github, OPENED)
    body = [line for line in comment["body"].splitlines() if not line.startswith("<!--")]
    assert "EMBEDDED EMULATOR" in body[0]
    assert "credentials were given, but chariot-url is `embedded`" in result.log


def test_every_plan_names_its_target(repo: Path, runner: Runner, server: BackgroundServer,
                                     github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    head = json.loads(OPENED.read_text())["pull_request"]["head"]["sha"]
    result = runner.run(repo, chariot_inputs(server), OPENED)
    (comment,) = sticky(github, OPENED)
    assert f"Chariot `{server.url}`" in comment["body"] and f"commit `{head[:12]}`" in comment["body"]
    assert "owner `gh-team`" in comment["body"] and "planned " in comment["body"]
    assert "backend `rest`" in comment["body"]  # the Action always plans over REST to its input URL
    document = json.loads(Path(result.outputs["plan-json"]).read_text())
    assert document["plan"]["target"]["server"] == server.url and document["plan"]["target"]["commit"] == head


def test_a_diverged_plan_is_refused_with_the_difference(repo: Path, runner: Runner, server: BackgroundServer,
                                                        github: FakeGitHub) -> None:
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("kept"), manifest("new"))
    inputs = chariot_inputs(server)
    # "kept" exists when the pull request is planned: the reviewed plan is "1 to create".
    write_manifests(runs, manifest("kept"))
    assert runner.run(repo, inputs | {"command": "apply", "on-unreviewed": "apply"}, merged(
        runner.tmp, github, OPENED, "a" * 40), event_name="push").returncode == 0
    write_manifests(runs, manifest("kept"), manifest("new"))
    planned = runner.run(repo, inputs, OPENED)
    assert "Plan: 1 to create" in planned.outputs["summary"]
    for run in live_runs(server):  # someone deletes "kept" in Chariot between review and merge
        import httpx

        httpx.delete(f"{server.url}/api/training/v2/runs/{run.id}")
    push = merged(runner.tmp, github, OPENED)
    refused = runner.run(repo, inputs | {"command": "apply"}, push, event_name="push")
    assert refused.returncode == 1, refused.log
    assert "diverged from the plan reviewed in pull request #2" in refused.log
    assert "+ vision/kept@1.0.0 create" in refused.log and "nothing was applied (on-diverged: fail)" in refused.log
    assert live_runs(server) == []
    forced = runner.run(repo, inputs | {"command": "apply", "on-diverged": "apply"}, push, event_name="push")
    assert forced.returncode == 0, forced.log
    assert sorted(r.name for r in live_runs(server)) == ["kept", "new"]


def test_a_plan_that_does_less_than_reviewed_is_applied(repo: Path, runner: Runner, server: BackgroundServer,
                                                        github: FakeGitHub, clock: ManualClock) -> None:
    """Reviewed: create "a" and stop "s". "s" finishes on its own before the merge: the merge-time plan only
    creates "a". Doing less than was reviewed is not a divergence."""
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("s", config=classifier_config(epochs=100)))
    dispatch = chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"})
    assert runner.run(repo, dispatch, OPENED, event_name="workflow_dispatch").returncode == 0
    clock.advance(60)  # "s" is training
    write_manifests(runs, manifest("s", config=classifier_config(epochs=100), state="stopped"), manifest("a"))
    reviewed = runner.run(repo, chariot_inputs(server), OPENED)
    assert reviewed.outputs["summary"].startswith("Plan: 1 to create, 0 to replace, 1 to stop"), reviewed.log
    clock.advance(100_000)  # "s" completes before the merge
    done = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push")
    assert done.returncode == 0, done.log
    assert "reviewed: applying the plan shown in pull request #2" in done.log
    assert sorted(r.name for r in live_runs(server)) == ["a", "s"]


def test_a_push_from_no_pull_request_follows_on_unreviewed(repo: Path, runner: Runner, server: BackgroundServer,
                                                           github: FakeGitHub, tmp_path: Path) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    push = tmp_path / "direct-push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "after": "b" * 40,
                                "repository": json.loads(OPENED.read_text())["repository"]}))
    refused = runner.run(repo, chariot_inputs(server, command="apply"), push, event_name="push")
    assert refused.returncode == 1 and "came from no pull request" in refused.log and live_runs(server) == []
    allowed = runner.run(repo, chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"}), push,
                         event_name="push")
    assert allowed.returncode == 0 and len(live_runs(server)) == 1


def test_a_failed_plan_replaces_the_comment(repo: Path, runner: Runner, server: BackgroundServer,
                                            github: FakeGitHub) -> None:
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    assert runner.run(repo, chariot_inputs(server), OPENED).returncode == 0
    runs.write_text(runs.read_text().replace("cpu: '1'", "cpu: lots"))
    failed = runner.run(repo, chariot_inputs(server), SYNCHRONIZE)
    assert failed.returncode == 1
    (comment,) = sticky(github, SYNCHRONIZE)
    head = json.loads(SYNCHRONIZE.read_text())["pull_request"]["head"]["sha"]
    assert "plan failed" in comment["body"] and head[:12] in comment["body"]
    assert "a.yaml:" in comment["body"] and "Plan: 1 to create" not in comment["body"]
    assert "chariot-apply:review" not in comment["body"]  # nothing reviewable: a merge now is unreviewed


def test_two_environments_keep_two_comments_and_foreign_ones_are_left_alone(
        repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    runner.run(repo, chariot_inputs(server, environment="staging"), OPENED)
    (ours,) = sticky(github, OPENED)
    quoted = github.add(_repository(OPENED), PR, ours["body"].splitlines()[0] + "\nI quote the marker", "reviewer")
    runner.run(repo, chariot_inputs(server, environment="prod"), OPENED)
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"), manifest("b"))
    runner.run(repo, chariot_inputs(server, environment="staging"), SYNCHRONIZE)
    comments = sticky(github, OPENED)
    assert len([c for c in comments if c["user"]["login"] == "github-actions[bot]"]) == 2
    assert github.comments[quoted]["body"].endswith("I quote the marker")  # never edited
    staging = next(c for c in comments if ":staging:" in c["body"] and c["user"]["login"] != "reviewer")
    assert "Plan: 2 to create" in staging["body"]


def test_twin_comments_from_concurrent_jobs_are_folded_into_one(repo: Path, runner: Runner,
                                                                server: BackgroundServer, github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    runner.run(repo, chariot_inputs(server), OPENED)
    (first,) = sticky(github, OPENED)
    github.add(_repository(OPENED), PR, first["body"], "github-actions[bot]")  # a second job's twin
    runner.run(repo, chariot_inputs(server), OPENED)
    assert len(sticky(github, OPENED)) == 1


def test_labels(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    runner.run(repo, chariot_inputs(server, labels="true"), OPENED)
    assert github.labels[(_repository(OPENED), PR)] == {"chariot-apply: changes"}
    write_manifests(runs, manifest("a", config=classifier_config(epochs=3)))
    runner.run(repo, chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"}), OPENED,
               event_name="workflow_dispatch")
    write_manifests(runs, manifest("a", config=classifier_config(epochs=4), allowReplace=True))
    runner.run(repo, chariot_inputs(server, labels="true"), OPENED)
    assert github.labels[(_repository(OPENED), PR)] == {"chariot-apply: destroys"}


def test_conflict_and_blocked_replace_fail_the_plan_step(repo: Path, runner: Runner, server: BackgroundServer,
                                                         github: FakeGitHub) -> None:
    create_directly(server, "a")
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 1 and result.outputs["exitcode"] == "1"
    assert "need attention" in result.outputs["summary"] and "apply on merge would fail" in result.log


@pytest.mark.slow
def test_a_2000_run_plan_keeps_the_step_summary_under_one_mib(tmp_path: Path) -> None:
    notes = "Entraînement été — 训练运行 — обучение 🚀 " * 12  # three and four bytes a character
    runs = [declared(f"run-{i:04d}-u", notes=notes, config=classifier_config(dataset_id=f"données-{i}", note=notes))
            for i in range(2000)]
    plan = build_plan(runs, state(), PlanOptions(owner="big"))
    markdown = render_markdown(plan)
    assert len(markdown.encode()) > STEP_SUMMARY_LIMIT  # the test means something
    summary = tmp_path / "summary.md"
    runner = RunnerFiles({"GITHUB_STEP_SUMMARY": str(summary)}, open(tmp_path / "log", "w"))  # noqa: SIM115
    runner.add_summary(markdown)
    runner.add_summary("### chariot-apply: apply complete\n\n" + "| `run` | create | ✅ |\n" * 5000)
    size = summary.stat().st_size
    assert size <= STEP_SUMMARY_LIMIT and size > STEP_SUMMARY_LIMIT - 4096
    summary.read_bytes().decode("utf-8")  # no character cut in half
    assert "_Cut: the step summary is limited to 1 MiB._" in summary.read_text()


def test_the_drift_check_opens_updates_and_closes_one_issue(repo: Path, runner: Runner, server: BackgroundServer,
                                                            github: FakeGitHub, tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.json"
    repository = json.loads(OPENED.read_text())["repository"]
    schedule.write_text(json.dumps({"schedule": "0 3 * * *", "repository": repository}))
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    drift = chariot_inputs(server, command="drift")
    first = runner.run(repo, drift, schedule, event_name="schedule")
    assert first.returncode == 0 and first.outputs["exitcode"] == "2", first.log
    (issue,) = github.open_issues()
    assert "vision/a@1.0.0" in issue["body"]
    write_manifests(runs, manifest("a"), manifest("b"))
    runner.run(repo, drift, schedule, event_name="schedule")
    (updated,) = github.open_issues()
    assert updated["number"] == issue["number"] and "vision/b@1.0.0" in updated["body"]
    runner.run(repo, chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"}), schedule,
               event_name="workflow_dispatch")
    done = runner.run(repo, drift, schedule, event_name="schedule")
    assert done.returncode == 0 and done.outputs["exitcode"] == "0" and "drift issue: closed" in done.log
    assert github.open_issues() == [] and github.issues[issue["number"]]["state"] == "closed"


@pytest.mark.parametrize("count", [2_000, 20_000])
def test_a_large_apply_still_posts_its_result_within_githubs_limits(count: int, github: FakeGitHub,
                                                                     github_server: BackgroundServer,
                                                                     tmp_path: Path) -> None:
    """The reproduction: 2,000 creates applied, the result comment passed 65,536 characters and GitHub's 422
    became a warning. Cut like the plan comment: counts first, failures first, the rest in the step summary."""
    from chariot_apply.apply.executor import ApplyResult, Outcome
    from chariot_apply.github.api import GitHubApi, PullRequest
    from chariot_apply.github.comments import COMMENT_LIMIT
    from chariot_apply.github.pull_request import COMMENT_MARGIN
    from chariot_apply.render.apply import apply_markdown, summarize

    outcomes = [Outcome(f"vision/run-{i:05d}@1.0.0", "create", i % 997 != 5, "created" if i % 997 != 5 else
                        "refused: the blueprint's schema says no", f"{i:08d}-0000-4000-8000-000000000000")
                for i in range(count)]
    result = ApplyResult(tuple(outcomes))
    plan = build_plan([], state(), PlanOptions(owner="big"))
    assert len(apply_markdown(summarize(result), plan.header())) > COMMENT_LIMIT  # uncut, GitHub would refuse it
    marker = "<!-- chariot-apply:applied:prod -->"
    cut = apply_markdown(summarize(result), plan.header(), limit=COMMENT_LIMIT - len(marker) - 1 - COMMENT_MARGIN)
    body = f"{marker}\n{cut}"
    with GitHubApi(github_server.url, "ghs_token") as api:
        api.create_comment(PullRequest(_repository(OPENED), PR), body)  # the stand-in refuses > 65,536 with 422
    failed = count - sum(o.ok for o in outcomes)
    assert f"**{count - failed} done, {failed} failed.**" in body and "cut to fit" in body
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    assert all("❌" in row for row in rows[:failed])  # every failure shown, first
    summary = tmp_path / "summary.md"
    runner = RunnerFiles({"GITHUB_STEP_SUMMARY": str(summary)}, open(tmp_path / "log", "w"))  # noqa: SIM115
    runner.add_summary(render_markdown(plan))
    runner.add_summary(apply_markdown(summarize(result), plan.header()))
    assert summary.stat().st_size <= 1_000_000  # under 1 MiB with a margin for what GitHub adds


def all_metrics(server: BackgroundServer, run_id: str) -> list[Any]:
    import asyncio

    from chariot_apply.backends.rest.client import AsyncChariotClient

    async def read() -> list[Any]:
        async with AsyncChariotClient(server.url) as client:
            return list(await client.get_all_metrics(run_id))

    return asyncio.run(read())


def test_a_merge_applies_while_a_run_with_retention_trains(repo: Path, runner: Runner, server: BackgroundServer,
                                                           github: FakeGitHub, clock: ManualClock) -> None:
    """The reproduction: a PR that touches nothing of a training run with `checkpoints.keep` diverged at merge,
    because the run's checkpoint list grew between review and merge. Retention is a lifecycle action: derived
    afresh from the merged manifests, it never makes a merge diverge, and it is applied."""
    runs = repo / "training" / "runs" / "a.yaml"
    keeper = manifest("trains", config=classifier_config(epochs=30), checkpoints={"keep": {"last": 1}},
                      promote=[{"model": {"name": "trained", "version": "1.0.0"},
                                "checkpoint": {"select": "best", "metric": "val/loss"}}])
    write_manifests(runs, keeper)
    dispatch = chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"})
    assert runner.run(repo, dispatch, OPENED, event_name="workflow_dispatch").returncode == 0
    clock.advance(40)  # a few checkpoints
    write_manifests(runs, keeper, manifest("unrelated"))
    reviewed = runner.run(repo, chariot_inputs(server), OPENED)
    assert "1 to create" in reviewed.outputs["summary"] and "checkpoint(s) to delete" in reviewed.outputs["summary"]
    clock.advance(60)  # more checkpoints: the retention action now names others
    done = runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                      event_name="push")
    assert done.returncode == 0, done.log
    assert "reviewed: applying the plan shown in pull request #2" in done.log
    assert sorted(r.name for r in live_runs(server)) == ["trains", "unrelated"]
    trains = next(r for r in live_runs(server) if r.name == "trains")
    checkpoints, models = checkpoints_and_models(server)
    complete = [c for c in checkpoints if c.run_id == trains.id and c.status == "complete"]
    # Retention kept the last and, for the promotion still to come (promote best), the best so far (issue 38:
    # `keep: {last: 1}` used to delete it): the others are gone.
    last = max(c.global_step or 0 for c in complete)
    loss = {m.global_step: float(m.value) for m in all_metrics(server, trains.id or "")
            if m.tag == "val/loss" and m.value is not None}
    best = min((s for s in loss if s <= last), key=lambda s: (loss[s], s))
    assert {c.global_step for c in complete} == {last, best}, \
        "the merge-time plan's lifecycle section (retention) was not applied"
    assert models == [], "promoted while the run still trained (when: finished)"
    # The run finishes; the scheduled reconcile of the default branch promotes its best checkpoint, once.
    clock.advance(300)
    schedule = runner.tmp / "schedule.json"
    schedule.write_text(json.dumps({"repository": json.loads(OPENED.read_text())["repository"], "schedule": "*/10"}))
    for _ in range(2):
        cron = runner.run(repo, chariot_inputs(server, command="reconcile"), schedule, event_name="schedule")
        assert cron.returncode == 0, cron.log
    checkpoints, (model,) = checkpoints_and_models(server)
    assert model.name == "trained" and model.checkpoint_id in {c.id for c in checkpoints}

