"""The Action's two writers: ``apply`` on merge and ``reconcile`` on a schedule. Each waits its turn among the
writers of its repository and environment (``github/writers.py``) and of its machine (``workspace.locks``) before
it plans, so that it plans after the last writer wrote; each applies what was merged since the last applied
commit, under the reviews of the pull requests that merged it (``github/gate.py``), and records how far it got.

A merge's apply that was cancelled (GitHub keeps one pending run per concurrency group), failed or never ran is
caught up by the next merge's apply, or by the next reconcile."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from chariot_apply.apply.executor import ApplyResult
from chariot_apply.github.api import GitHubApi, GitHubError, MergedPull, PullRequest, ReadOnlyToken
from chariot_apply.github.approvals import approver
from chariot_apply.github.comments import COMMENT_LIMIT, label_of
from chariot_apply.github.gate import Verdict, judge
from chariot_apply.github.pull_request import COMMENT_MARGIN
from chariot_apply.github.step import LogReporter, Step, annotate_plan
from chariot_apply.github.writers import OtherWriter, Turn, take_turn
from chariot_apply.plan.model import Plan
from chariot_apply.render.apply import apply_markdown, summarize
from chariot_apply.runtime.asyncrun import run
from chariot_apply.usecases import applying
from chariot_apply.workspace import project
from chariot_apply.workspace.locks import Busy


@dataclass(frozen=True)
class Written:
    """What a writer did: its exit code, and whether Chariot now holds every declared change merged up to the
    commit (the record the next writer starts from)."""

    code: int
    applied: bool
    description: str


def write(step: Step, ws: project.Workspace, make_plan: Callable[[], Plan]) -> int:
    """``apply`` or ``reconcile``: wait for the turn, plan, act, and record how far it got."""
    command = step.inputs.command
    wait = step.inputs.writer_wait if command == "apply" else 0.0
    api = step.github()
    with contextlib.ExitStack() as held:
        if api is not None:
            held.enter_context(api)
        try:
            held.enter_context(ws.writer.hold(wait=wait))  # this machine's other checkouts
            turn = _turn(step, api, command, wait)  # other runners
        except (OtherWriter, Busy) as busy:
            if command != "reconcile":
                raise OtherWriter(str(busy), hint="let it finish, or allow more time (writer-wait)") from None
            print(f"reconcile: nothing done: {busy} (the next reconcile carries on)", file=step.log)
            step.runner.set_outputs(step.outputs | {"exitcode": "0"})
            return 0
        try:
            plan = make_plan()
            done = _apply(step, ws, plan, api, turn) if command == "apply" else _reconcile(step, ws, plan, api, turn)
        except BaseException:
            if turn is not None:
                turn.finish(False, f"chariot-apply {command} failed: see its workflow run")
            raise
        if turn is not None:
            turn.finish(done.applied, done.description)
        return done.code


def _turn(step: Step, api: GitHubApi | None, command: str, wait: float) -> Turn | None:
    event = step.event
    if api is None or not event.sha or not event.repository:
        return None
    run_id = step.env.get("GITHUB_RUN_ID", "")
    try:
        return take_turn(api, event.repository, event.sha, step.inputs.environment,
                         int(run_id) if run_id.isdigit() else None, command, wait=wait,
                         say=lambda words: print(words, file=step.log))
    except ReadOnlyToken:
        step.runner.warning("the token may not record deployments (give the job `deployments: write`): writers on "
                            "other runners are not kept apart, and a merge whose apply was cancelled is caught up "
                            "only from this commit's own pull request")
        return None


def gate(step: Step, api: GitHubApi | None, plan: Plan, last_applied: str | None, *,
         on_unreviewed: bool, on_diverged: bool) -> Verdict:
    """What may be applied of ``plan``: every declared change under the review of a pull request merged since
    ``last_applied`` (on a pull request event, applying its own branch: its own plan)."""
    event = step.event
    if event.name == "pull_request" or not plan.declared_changes:
        return Verdict(True, ())
    if api is None or not event.sha or not event.repository:
        return judge(plan, [], on_unreviewed, on_diverged,
                     ["no pull request can be looked up (no github-token, repository or commit)"])
    pulls, reviews, notes = step.merged_reviews(api, last_applied)
    if not pulls:
        notes.insert(0, f"commit {event.sha[:12]} came from no pull request")
    verdict = judge(plan, reviews, on_unreviewed, on_diverged, notes)
    if verdict.go and plan.risk.level == "high" and "high-risk" in step.inputs.approvals_for:
        return _approved_risk(api, event.repository, plan, verdict, pulls)
    return verdict


def _approved_risk(api: GitHubApi, repository: str, plan: Plan, verdict: Verdict,
                   pulls: list[MergedPull]) -> Verdict:
    """A high-risk plan goes ahead only where each pull request whose review covers it was approved on its last
    commit by someone with write access (approvals-for: high-risk); a label is never enough."""
    heads = {p.number: p.head_sha for p in pulls}
    missing = []
    for number in sorted(set(verdict.covering.values())):
        who, said = approver(api, repository, number, heads.get(number, ""))
        if who is None:
            missing.append(said)
    if not missing:
        return verdict
    return Verdict(False, (f"a high-risk plan ({'; '.join(plan.risk.reasons)}) needs an approving review: "
                           f"{missing[0]}", *missing[1:], *verdict.lines,
                           "nothing was applied: approve the pull request on its last commit (someone with write "
                           "access), then re-run this job"), verdict.covering, verdict.reviews)


def _apply(step: Step, ws: project.Workspace, plan: Plan, api: GitHubApi | None, turn: Turn | None) -> Written:
    runner = step.runner
    if step.event.name == "pull_request_target":
        runner.warning("command: apply on a pull_request_target event runs with the base repository's secrets "
                       "for a pull request's code; apply on push to the default branch instead")
    refused = applying.refusal(plan)  # said before the reviews are read; `apply` itself refuses it too
    if refused is not None:
        annotate_plan(runner, plan)
        runner.error(f"{refused.message} (hint: {refused.hint})")
        runner.set_outputs(step.outputs)
        return Written(1, False, "refused: invalid runs or broken rules")
    verdict = gate(step, api, plan, turn.last_applied if turn else None,
                   on_unreviewed=step.inputs.on_unreviewed == "apply", on_diverged=step.inputs.on_diverged == "apply")
    if not verdict.go:
        runner.error(verdict.lines[0])
        runner.add_summary("### chariot-apply: nothing was applied\n\n" + "\n".join(f"    {w}" for w in verdict.lines))
        print("\n".join(verdict.lines), file=step.log)
        runner.set_outputs(step.outputs)
        return Written(1, False, "nothing applied: not reviewed")
    for line in verdict.lines:
        print(line, file=step.log)
    result = run(applying.apply(ws, plan, LogReporter(step.log), check_stale=False, pull_requests=verdict.covering))
    _say_outcomes(step, api, plan, result, verdict)
    applied = result.ok and not plan.unreached
    step.runner.set_outputs(step.outputs | {"exitcode": "0" if applied else "1"})
    return Written(0 if applied else 1, applied, "applied" if applied else "incomplete: see its workflow run")


def _reconcile(step: Step, ws: project.Workspace, plan: Plan, api: GitHubApi | None, turn: Turn | None) -> Written:
    """The lifecycle actions of the default branch's manifests (reviewed when they merged) and, where a merge was
    not applied, what its review covers; never a declared change no review shows (that stays drift)."""
    runner = step.runner
    verdict = Verdict(False, ())
    if turn is not None and turn.last_applied != step.event.sha and plan.declared_changes:
        verdict = gate(step, api, plan, turn.last_applied, on_unreviewed=False, on_diverged=False)
        for line in verdict.lines:
            print(line, file=step.log)
    chosen = plan if verdict.go else plan.only_lifecycle()
    result = run(applying.apply(ws, chosen, LogReporter(step.log), check_stale=False,
                                pull_requests=verdict.covering)) if chosen.has_changes else ApplyResult(())
    runner.add_summary(apply_markdown(summarize(result), plan.header(), what="reconcile"))
    left = () if verdict.go else plan.declared_keys()
    if left:
        runner.warning(f"{len(left)} declared change(s) found and not applied: reconcile applies the lifecycle "
                       "actions, and what a merged pull request's review covers; a reviewed pull request applies "
                       "the rest: " + "; ".join(left[:5]))
    if verdict.go:
        _say_outcomes(step, api, plan, result, verdict)
    for outcome in result.failed:
        runner.error(f"{outcome.address}: {outcome.kind} failed: {outcome.detail}")
    annotate_plan(runner, plan)
    code = 1 if result.failed or plan.needs_attention else 0
    runner.set_outputs(step.outputs | {"exitcode": str(code), "has-changes": str(bool(left)).lower()})
    applied = result.ok and not left and not plan.unreached
    return Written(code, applied, "caught up" if verdict.go else "lifecycle actions" if applied else
                   f"{len(left)} declared change(s) not applied")


def _say_outcomes(step: Step, api: GitHubApi | None, plan: Plan, result: ApplyResult, verdict: Verdict) -> None:
    """The outcome in the step summary, and on each pull request whose changes were applied (its own outcomes)."""
    summary = summarize(result)
    if step.inputs.command == "apply":
        step.runner.add_summary(apply_markdown(summary, plan.header()))
    for outcome in result.failed:
        if step.inputs.command == "apply":
            step.runner.error(f"{outcome.address}: {outcome.kind} failed: {outcome.detail}")
    if plan.unreached and step.inputs.command == "apply":
        step.runner.error(f"{plan.unreached} declared run(s) were not brought to their declared state (conflicts or "
                          "blocked replacements): see the step summary")
    if api is None or not step.inputs.comment or not step.event.repository:
        return
    marker = f"<!-- chariot-apply:applied:{label_of(step.inputs.environment)} -->"
    for number in sorted(set(verdict.covering.values())):
        addresses = {a for a, n in verdict.covering.items() if n == number}
        own = ApplyResult(tuple(o for o in result.outcomes if o.address in addresses))
        text = apply_markdown(summarize(own), plan.header(), limit=COMMENT_LIMIT - len(marker) - 1 - COMMENT_MARGIN)
        try:
            api.create_comment(PullRequest(step.event.repository, number), f"{marker}\n{text}")
        except GitHubError as exc:  # the apply is done: a comment that cannot be posted is a warning
            step.runner.warning(f"could not post the outcome on pull request #{number}: {exc}")
