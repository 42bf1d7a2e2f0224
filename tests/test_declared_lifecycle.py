"""Declared lifecycle, in the pure planner: limits, retries that resume, dependencies and references, and the
split of a plan into declared changes (what a review approves) and lifecycle actions (what reviewed rules call
for as runs train)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import yaml

from chariot_apply.chariot.models import Checkpoint, Model, Progress, Run
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.github.comments import ReviewRecord
from chariot_apply.github.gate import Review, Verdict, judge
from chariot_apply.manifest.loader import check_document
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.yaml_source import parse_documents
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.harvest import Harvest, model_summary
from chariot_apply.plan.live import LiveState
from chariot_apply.plan.model import (
    Blocked,
    BlockedReplace,
    Create,
    Delete,
    DeleteCheckpoints,
    Failed,
    Invalid,
    NoOp,
    Plan,
    PlanOptions,
    Promote,
    Replace,
    Stop,
    Waiting,
)
from chariot_apply.plan.references import ReferenceError_, parse_reference
from chariot_apply.render.markdown import render_markdown
from chariot_apply.render.text import render_text
from tests.factories import manifest
from tests.github_fake import FakeGitHub
from tests.plan_factories import BLUEPRINT, OWNER, T0, declared, live, state


def plan(runs: list[DeclaredRun], live_state: LiveState) -> Plan:
    return build_plan(runs, live_state, PlanOptions(owner=OWNER))


def judged(reviewed: Plan, merged: Plan) -> Verdict:
    """What the merge gate says of ``merged`` under one trusted review that showed ``reviewed``."""
    return judge(merged, [Review(7, ReviewRecord.of(reviewed))], on_unreviewed=False, on_diverged=False, context=[])


def at(live_state: LiveState, seconds: float, **fields: Any) -> LiveState:
    """``live_state`` as fetched ``seconds`` after T0."""
    return replace(live_state, now=T0 + timedelta(seconds=seconds), **fields)


def only(result: Plan, kind: type) -> Any:
    (item,) = [i for i in result.items if isinstance(i, kind)]
    return item


def resumable(live_state: LiveState, **fields: Any) -> LiveState:
    """``live_state`` with a blueprint whose config takes a start_model (as real blueprints' do)."""
    schema = {**BLUEPRINT.config_schema, "properties": {**BLUEPRINT.config_schema["properties"],
                                                        "start_model": {"anyOf": [{"type": "object"},
                                                                                  {"type": "null"}]}}}
    blueprint = replace(BLUEPRINT, config_schema=schema)
    return replace(live_state, blueprints={("image-classifier", "2.%"): blueprint},
                   blueprints_by_id={blueprint.id: blueprint}, **fields)


def checkpoint(run: Run, step: int, status: str = "complete") -> Checkpoint:
    return Checkpoint(id=f"ck-{run.id}-{step}", run_id=run.id, global_step=step, status=status)


# ------------------------------------------------------------------------------------------------ limits

def test_a_run_past_its_max_duration_is_a_lifecycle_stop_with_its_rule() -> None:
    run = declared("a", limits={"maxDuration": "2h"})
    running = live(run)
    inside, past = plan([run], at(state(running), 7199)), plan([run], at(state(running), 7201))
    assert isinstance(only(inside, NoOp), NoOp) and not inside.has_changes
    stop = only(past, Stop)
    assert stop.rule == "spec.limits.maxDuration: 2h" and "it has run 2h" in stop.reason
    assert past.declared_changes == () and past.lifecycle_actions == (stop,)
    assert "Lifecycle: 1 to stop." in past.summary() and "Plan: 0 to create" in past.summary()



def test_a_limit_holds_while_a_declared_change_to_the_run_is_blocked() -> None:
    """An edited manifest whose replace is not allowed keeps its run training: its maxDuration still stops it
    (a lifecycle stop beside the blocked replace), and a stall's recreate does not sneak the replace through."""
    trained = declared("a", config={"epochs": 10}, limits={"maxDuration": "2h"})
    running = live(trained)
    edited = declared("a", config={"epochs": 20}, limits={"maxDuration": "2h"})
    result = plan([edited], at(state(running), 7201))
    assert {type(i) for i in result.items} == {BlockedReplace, Stop}
    assert result.lifecycle_actions == (only(result, Stop),) and only(result, Stop).rule.startswith("spec.limits")
    assert plan([edited], at(state(running), 7000)).lifecycle_actions == ()
    stalled = declared("a", config={"epochs": 20}, limits={"stall": {"noProgressFor": "30m", "action": "recreate"}})
    frozen = live(trained, progress_updated_at=T0)
    assert {type(i) for i in plan([stalled], at(state(frozen), 3600)).items} == {BlockedReplace}


def test_limits_are_not_measured_without_a_time_and_a_finished_run_is_never_stopped() -> None:
    run = declared("a", limits={"maxDuration": "1m"})
    assert not plan([run], state(live(run))).has_changes  # now unknown: nothing measured
    assert not plan([run], at(state(live(run, status="job_completed")), 9999)).has_changes


@pytest.mark.parametrize(("action", "kind"), [("stop", Stop), ("recreate", Stop)])
def test_a_stalled_run_is_stopped_or_recreated(action: str, kind: type) -> None:
    run = declared("a", limits={"stall": {"noProgressFor": "30m", "action": action}})
    moving = live(run, progress=[Progress(operation="Training", value=1200, final_value=48000, units="steps")],
                  progress_updated_at=T0 + timedelta(minutes=10))
    assert not plan([run], at(state(moving), 39 * 60)).has_changes
    stalled = only(plan([run], at(state(moving), 41 * 60)), kind)
    assert stalled.rule.startswith("spec.limits.stall: noProgressFor 30m") and "at step 1,200" in stalled.reason
    pending = live(run, status="job_pending", progress_updated_at=T0)  # waiting for GPUs is not a stall
    assert not plan([run], at(state(pending), 99 * 60)).has_changes


def test_a_stalls_recreate_keeps_every_attempt_and_stops_at_its_limit() -> None:
    """Issue 38: `stall: {action: recreate}` deleted the stalled run and its checkpoints and recreated it without
    end. Now each stalled run is stopped and kept as an attempt, the next is created once it has stopped, and at
    `maxRetries` the last is stopped and left. No plan deletes anything."""
    run = declared("a", limits={"stall": {"noProgressFor": "30m", "action": "recreate", "maxRetries": 2}})
    attempts: list[Run] = []
    minute = 60.0
    made = 0
    for round_ in range(4):
        started = T0 + timedelta(hours=round_)
        stalled = live(run, created_at=started, progress_updated_at=started + timedelta(minutes=5))
        result = plan([run], at(state(*attempts, stalled), round_ * 3600 + 40 * minute))
        assert not any(isinstance(i, Delete | Replace) for i in result.items), result.items
        stop = only(result, Stop)
        assert stop.live.id == stalled.id and stop.rule.startswith("spec.limits.stall")
        if round_ < 2:
            assert f"attempt {round_ + 1} of 3; the next reconcile creates attempt {round_ + 2}" in stop.reason
        else:
            assert "its 2 recreate(s) are used up" in stop.reason
        stopped = stalled.model_copy(update={"status": "job_terminated",
                                             "status_updated_at": started + timedelta(minutes=41)})
        attempts.append(stopped)
        after = plan([run], at(state(*attempts), round_ * 3600 + 45 * minute))
        assert not any(isinstance(i, Delete | Replace) for i in after.items)
        if round_ < 2:
            create = only(after, Create)
            made += 1
            assert f"run {stopped.id} stalled and was stopped (job_terminated): attempt {round_ + 2} of 3" in \
                create.reason and create.rule.startswith("spec.limits.stall") and len(create.attempts) == round_ + 1
        else:
            failed = only(after, Failed)
            assert "the last of 3 attempt(s) (spec.limits.stall maxRetries 2)" in failed.reason
            break
    assert made == 2 and len(attempts) == 3


def test_a_run_stopped_at_its_max_duration_is_not_a_stall_attempt() -> None:
    """A run stopped for its maxDuration stays stopped, even if it had also stopped moving: that limit only stops."""
    run = declared("a", limits={"maxDuration": "1h", "stall": {"noProgressFor": "10m", "action": "recreate"}})
    ended = live(run, status="job_terminated", progress_updated_at=T0 + timedelta(minutes=5),
                 status_updated_at=T0 + timedelta(minutes=61))
    result = plan([run], at(state(ended), 2 * 3600))
    assert not result.has_changes and only(result, NoOp).live is not None


@pytest.mark.parametrize(("spec", "path"), [
    ({"limits": {"maxDuration": "soon"}}, "spec.limits.maxDuration"),
    ({"limits": {"stall": {"noProgressFor": "-5m"}}}, "spec.limits.stall.noProgressFor"),
    ({"onFailure": {"action": "recreate", "maxRetries": -1}}, "spec.onFailure.maxRetries"),
    ({"onFailure": {"action": "recreate", "resume": "yesterday"}}, "spec.onFailure.resume"),
])
def test_a_bad_declaration_is_refused_at_its_line(spec: dict[str, Any], path: str) -> None:
    text = yaml.safe_dump(manifest("a", **spec), sort_keys=False)
    (doc,), _ = parse_documents(text, "runs.yaml")
    run, problems = check_document(doc, "vision")
    assert run is None and problems
    line = next(i for i, written in enumerate(text.splitlines(), 1) if path.rsplit(".", 1)[1] + ":" in written)
    assert any(p.path.startswith(path.rsplit(".", 1)[0]) and f"runs.yaml:{line}" in str(p.location)
               for p in problems), [(p.path, str(p.location), p.message) for p in problems]


# ------------------------------------------------------------------------------------------------ retries

def test_a_failed_run_is_retried_as_a_lifecycle_create_and_kept_as_an_attempt() -> None:
    run = declared("a", onFailure={"action": "recreate", "maxRetries": 2})
    first = live(run, status="job_failed")
    retry = only(plan([run], state(first)), Create)
    assert retry.rule == "spec.onFailure: recreate, maxRetries 2, resume none"
    assert f"run {first.id} failed (unknown): attempt 2 of 3" in retry.reason  # no last event: cause unknown
    assert [a.id for a in retry.attempts] == [first.id] and "start_model" not in retry.run.config
    second = live(run, status="job_failed", age=60)
    assert "attempt 3 of 3" in only(plan([run], state(first, second)), Create).reason
    third = live(run, status="job_failed", age=120)
    used_up = plan([run], state(first, second, third))
    assert not used_up.has_changes
    assert f"run {third.id} failed, the last of 3 attempt(s)" in only(used_up, Failed).reason


def test_a_retry_resumes_from_the_last_complete_checkpoint_of_the_newest_attempt_that_left_one() -> None:
    run = declared("a", onFailure={"action": "recreate", "resume": "lastCheckpoint"})
    first, second = live(run, status="job_failed"), live(run, status="job_failed", age=60)
    harvest = {first.id or "": Harvest((checkpoint(first, 1000), checkpoint(first, 1200))),
               second.id or "": Harvest((checkpoint(second, 1300, status="incomplete"),))}
    result = plan([run], resumable(state(first, second), harvest=harvest))
    retry = only(result, Create)
    assert retry.run.config["start_model"] == {"checkpoint_id": f"ck-{first.id}-1200"}
    assert "attempt 3 of 4, resuming from step 1,200" in retry.reason and "resuming from step 1,200" in render_text(
        result)
    nothing_saved = only(plan([run], resumable(state(first))), Create)
    assert "start_model" not in nothing_saved.run.config and "starts from the beginning" in nothing_saved.notices[0]


def test_resume_needs_a_blueprint_that_takes_start_model() -> None:
    run = declared("a", onFailure={"action": "recreate", "resume": "lastCheckpoint"})
    problem = only(plan([run], state()), Invalid).problems[0]
    assert problem.path == "spec.onFailure.resume" and "has no start_model" in problem.message
    assert problem.location.startswith("runs.yaml:")


def test_a_running_retry_is_the_run_and_its_failed_attempts_are_never_duplicates() -> None:
    run = declared("a", onFailure="recreate")
    first, retried = live(run, status="job_failed"), live(run, age=60)
    result = plan([run], state(first, retried))
    assert not result.has_changes and "1 earlier attempt(s) failed and are kept" in only(result, NoOp).notices[0]


def test_a_failed_attempt_of_an_older_spec_is_history_not_a_retry() -> None:
    run = declared("a", onFailure="recreate", config={"epochs": 2, "dataset_id": "ds-1"})
    old = live(run, status="job_failed", spec_of=declared("a", config={"epochs": 1, "dataset_id": "ds-1"}))
    create = only(plan([run], state(old)), Create)
    assert create.rule == "" and create in plan([run], state(old)).declared_changes


# ------------------------------------------------------------------------------------------------ dependencies

PRETRAIN = "vision/pretrain@1.0.0"


def finetune(**spec: Any) -> DeclaredRun:
    return declared("finetune", **({"dependsOn": [PRETRAIN]} | spec))


def test_a_dependent_run_waits_for_its_upstream_and_says_how_far_it_is() -> None:
    pretrain, tune = declared("pretrain"), finetune()
    before = plan([pretrain, tune], state())
    assert only(before, Create).address == PRETRAIN
    waiting = only(before, Waiting)
    assert waiting.reason == f"waiting for {PRETRAIN} (not created yet)"
    training = live(pretrain, progress=[Progress(operation="Training", value=4000, final_value=10000, units="steps")])
    assert only(plan([pretrain, tune], state(training)), Waiting).reason == \
        f"waiting for {PRETRAIN} (job_running, step 4,000 of 10,000)"
    done = only(plan([pretrain, tune], state(live(pretrain, status="job_completed"))), Create)
    assert done.address == "vision/finetune@1.0.0" and done.rule.startswith(f"created once {PRETRAIN} finished")


def test_a_waiting_create_and_its_later_create_share_a_review_key() -> None:
    """Reviewed while the upstream trained, merged after it finished: the create is no divergence."""
    pretrain, tune = declared("pretrain"), finetune()
    reviewed = plan([pretrain, tune], state(live(pretrain)))
    merged = plan([pretrain, tune], state(live(pretrain, status="job_completed")))
    assert set(merged.action_keys()) == set(reviewed.action_keys())
    assert judged(reviewed, merged).go


@pytest.mark.parametrize(("upstream", "message"), [
    ({"status": "job_failed"}, "it depends on vision/pretrain@1.0.0 ended job_failed"),
    ({"status": "job_create_failed"}, "ended job_create_failed"),
])
def test_a_dependency_on_a_failed_run_is_blocked_not_an_error(upstream: dict[str, str], message: str) -> None:
    """Blocked is not failed (issue 34): the chain waits with the reason and the fix, located at the dependency,
    and an unrelated create in the same plan goes ahead; the plan needs no attention for it."""
    pretrain, tune, other = declared("pretrain"), finetune(), declared("unrelated")
    made = plan([pretrain, tune, other], state(live(pretrain, **upstream)))
    blocked = only(made, Blocked)
    assert message in blocked.reason and blocked.rule == "spec.dependsOn[0]" and blocked.action == "create"
    assert "fix vision/pretrain@1.0.0" in blocked.fix and blocked.location == str(tune.where("spec.dependsOn[0]"))
    assert only(made, Create).address == "vision/unrelated@1.0.0"
    assert made.needs_attention == 0 and not made.invalid and "1 blocked" in made.summary()


def test_a_cycle_and_an_unknown_address_are_located_errors() -> None:
    a = declared("a", dependsOn=["b@1.0.0"])
    b = declared("b", dependsOn=["vision/a@1.0.0"])
    result = plan([a, b], state())
    cycles = [p.message for i in result.items if isinstance(i, Invalid) for p in i.problems]
    assert cycles == ["a dependency cycle: vision/a@1.0.0 -> vision/b@1.0.0 -> vision/a@1.0.0",
                      "a dependency cycle: vision/b@1.0.0 -> vision/a@1.0.0 -> vision/b@1.0.0"]
    (unknown,) = only(plan([finetune(dependsOn=["pretrian@1.0.0"]), declared("pretrain")], state()),
                      Invalid).problems
    assert "'pretrian@1.0.0' is not a declared run" in unknown.message


def _finished_pretrain(**spec: Any) -> tuple[DeclaredRun, Run, Harvest]:
    pretrain = declared("pretrain", **spec)
    done = live(pretrain, status="job_completed")
    harvest = Harvest((checkpoint(done, 100), checkpoint(done, 200), checkpoint(done, 300)),
                      {(100, "loss"): 0.9, (200, "loss"): 0.4, (300, "loss"): 0.5})
    return pretrain, done, harvest


def test_references_resolve_to_the_upstream_checkpoint_once_it_finished() -> None:
    pretrain, done, harvest = _finished_pretrain()
    tune = declared("finetune", config={"epochs": 1, "dataset_id": "ds-1", "start_model": {
        "checkpoint_id": "${run:" + PRETRAIN + ".checkpoint.best(metric=loss)}"}, "last": "${run:pretrain@1.0.0."
        "checkpoint.last}"})
    create = only(plan([pretrain, tune], replace(state(done), harvest={done.id or "": harvest})), Create)
    assert create.run.config["start_model"] == {"checkpoint_id": f"ck-{done.id}-200"}  # the lowest loss
    assert create.run.config["last"] == f"ck-{done.id}-300"
    # Once created with the resolved ids, the live run matches the manifest: no difference, no replace.
    made = live(tune, config=create.run.config)
    again = plan([pretrain, tune], replace(state(done, made), harvest={done.id or "": harvest}))
    assert not again.has_changes, again.items


def test_a_model_reference_waits_for_the_promotion_then_resolves() -> None:
    pretrain, done, harvest = _finished_pretrain(promote=[{"model": {"name": "base", "version": "1.0.0"}}])
    tune = declared("finetune", config={"epochs": 1, "dataset_id": "ds-1",
                                        "start_model": {"model_id": "${run:" + PRETRAIN + ".model}"}})
    live_state = replace(state(done), harvest={done.id or "": harvest})
    first = plan([pretrain, tune], replace(live_state, models=()))
    assert "waiting for the model that" in only(first, Waiting).reason
    assert any(i.kind == "promote" for i in first.items)  # promoted in this plan: the create comes next time
    model = Model(id="m-1", name="base", version="1.0.0", checkpoint_id=f"ck-{done.id}-300",
                  summary=model_summary("", OWNER, done.id or ""), project_id="p-vision")
    create = only(plan([pretrain, tune], replace(live_state, models=(model,))), Create)
    assert create.run.config["start_model"] == {"model_id": "m-1"}


@pytest.mark.parametrize(("text", "what", "metric", "mode"), [
    ("${run:vision/pretrain@1.0.0.model}", "model", None, "min"),
    ("${run:pretrain@1.0.0.checkpoint.last}", "last", None, "min"),
    ("${run:vision/p@1.0.0.checkpoint.best(metric=metrics/mAP50(B),mode=max)}", "best", "metrics/mAP50(B)", "max"),
])
def test_references_parse_with_the_tags_real_blueprints_report(text: str, what: str, metric: str | None,
                                                               mode: str) -> None:
    ref = parse_reference(text, "spec.config.x")
    assert (ref.what, ref.metric, ref.mode) == (what, metric, mode)


@pytest.mark.parametrize("text", ["${run:a@1.checkpoint.best()}", "${run:a@1.checkpoint.first}",
                                  "${run:a@1.checkpoint.best(metric=loss,mode=up)}"])
def test_a_reference_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(ReferenceError_):
        parse_reference(text, "spec.config.x")


# ------------------------------------------------------------------------------------------------ the split

def test_lifecycle_actions_never_make_a_merge_diverge_and_declared_ones_do() -> None:
    limited = declared("a", limits={"maxDuration": "1h"})
    running = live(limited)
    reviewed = plan([limited], at(state(running), 60))
    merged = plan([limited], at(state(running), 7200))  # past the limit at merge: a lifecycle stop
    assert merged.lifecycle_actions and judged(reviewed, merged).go
    assert merged.fingerprint() == reviewed.fingerprint()
    unreviewed = plan([limited, declared("b")], at(state(running), 7200))
    found = judged(reviewed, unreviewed)
    assert not found.go and [line for line in found.lines if line.startswith("+ ")] == [
        "+ vision/b@1.0.0 create " + only(unreviewed, Create).run.spec_hash + " -"]


def test_text_and_markdown_show_lifecycle_actions_in_their_own_section_with_their_rule() -> None:
    limited = declared("a", limits={"maxDuration": "1h"})
    result = plan([limited, declared("b")], at(state(live(limited)), 7200))
    text = render_text(result)
    declared_part, lifecycle_part = text.split("Lifecycle actions")
    assert '+ run "vision/b@1.0.0"' in declared_part and "vision/a@1.0.0" not in declared_part
    assert '~ run "vision/a@1.0.0"' in lifecycle_part and "rule: spec.limits.maxDuration: 1h" in lifecycle_part
    markdown = render_markdown(result)
    assert "Lifecycle actions" in markdown and "spec.limits.maxDuration: 1h" in markdown


def test_the_drift_issue_stays_open_while_a_chain_is_blocked(github_server: BackgroundServer,
                                                              github: FakeGitHub) -> None:
    """Blocked fails nothing, yet a team must still see it: the drift check keeps its issue open with the reason,
    and closes it once the blocked chain is gone from the manifests."""
    from chariot_apply.github.api import GitHubApi
    from chariot_apply.github.drift import sync_drift_issue

    pretrain, tune = declared("pretrain"), finetune()
    failed = state(live(pretrain, status="job_failed"))
    blocked = plan([pretrain, tune], failed)
    assert not blocked.has_changes and blocked.needs_attention == 0 and blocked.blocked
    with GitHubApi(github_server.url, "ghs_token") as api:
        assert sync_drift_issue(api, "octo/models", "prod", blocked) == "opened"
        (issue,) = github.open_issues()
        assert "vision/finetune@1.0.0" in issue["body"] and "blocked" in issue["body"]
        assert sync_drift_issue(api, "octo/models", "prod", plan([pretrain], failed)) == "closed"
    assert github.open_issues() == []


def test_retention_spares_the_best_so_far_that_a_promotion_will_choose() -> None:
    """Issue 38: with `keep: {last: 1}` and `promote ... select: best` (when: finished), retention deleted the run's
    best checkpoint while it trained, so the model came from the last step. The best so far is spared (said in a
    notice) until the promotion is made; then retention takes it like any other."""
    run = declared("a", checkpoints={"keep": {"last": 1}}, promote=[{
        "model": {"name": "m", "version": "1.0.0"}, "checkpoint": {"select": "best", "metric": "loss"}}])
    training = live(run)
    harvest = Harvest((checkpoint(training, 100), checkpoint(training, 200), checkpoint(training, 300)),
                      {(100, "loss"): 0.9, (200, "loss"): 0.4, (300, "loss"): 0.5})
    during = plan([run], replace(state(training), harvest={training.id or "": harvest}, models=()))
    deleted = only(during, DeleteCheckpoints)
    assert deleted.steps == (100,)  # not 200, the best so far; 300 is the last, which keep keeps
    assert any("spares step 200 (the best so far by loss (min) for m@1.0.0)" in n for i in during.items
               for n in i.notices), [i.notices for i in during.items]
    done = training.model_copy(update={"status": "job_completed"})
    finished = plan([run], replace(state(done), harvest={done.id or "": harvest}, models=()))
    assert only(finished, Promote).checkpoint_id == f"ck-{done.id}-200"
    made = Model(id="m-1", name="m", version="1.0.0", checkpoint_id=f"ck-{done.id}-200",
                 summary=model_summary("", OWNER, done.id or ""), project_id="p-vision")
    after = plan([run], replace(state(done), harvest={done.id or "": harvest}, models=(made,)))
    assert only(after, DeleteCheckpoints).steps == (100,)  # 200 is the model's now: never deleted either
