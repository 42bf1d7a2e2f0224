"""The composite action's work, as one function of the runner's environment: plan, apply or check drift,
then report through the runner (outputs, step summary, annotations) and GitHub (comments, labels, issues).

The pull request is the contract: the Chariot is the one the ``chariot-url`` input names (never the checked-out
project file's ``server.url``, never a silent emulator), every plan says which, and on merge the Action applies
only what the pull request's plan comment showed (or less of it).
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, assert_never

import httpx

from chariot_apply.apply.executor import ApplyResult, Outcome, Reporter
from chariot_apply.backends.rest.settings import url_password
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.github.api import GitHubApi, GitHubError, PullRequest, ReadOnlyToken
from chariot_apply.github.comments import (
    COMMENT_LIMIT,
    Provenance,
    ReviewRecord,
    label_of,
    marker_for,
    read_sticky,
    shown_differs,
    upsert_sticky,
    workflow_path,
)
from chariot_apply.github.drift import sync_drift_issue
from chariot_apply.github.event import GitHubEvent
from chariot_apply.github.inputs import ActionInputError, ActionInputs, Command
from chariot_apply.github.pull_request import COMMENT_MARGIN, comment_plan, results_marker, set_plan_label
from chariot_apply.github.review import diverges, unproven
from chariot_apply.github.runner import Runner
from chariot_apply.manifest.errors import ManifestError
from chariot_apply.plan.document import plan_json
from chariot_apply.plan.model import Invalid, Plan, Violation
from chariot_apply.render.apply import apply_markdown, summarize
from chariot_apply.render.describe import headline, outcome_line
from chariot_apply.render.markdown import render_markdown
from chariot_apply.render.report import render_report_markdown
from chariot_apply.runtime.asyncrun import run
from chariot_apply.usecases import applying, planning, reporting
from chariot_apply.workspace import project as project


class LogReporter(Reporter):
    def __init__(self, log: TextIO) -> None:
        self.log = log

    def finished(self, outcome: Outcome) -> None:
        print(outcome_line(outcome.address, outcome.kind, outcome.ok, outcome.detail, outcome.run_id), file=self.log)


@dataclass
class Step:
    """One run of the action: what it was given, and where it reports."""

    env: Mapping[str, str]
    runner: Runner
    inputs: ActionInputs
    event: GitHubEvent
    transport: httpx.BaseTransport | None
    outputs: dict[str, str]

    @property
    def log(self) -> TextIO:
        return self.runner.log

    def github(self) -> GitHubApi | None:
        token = self.env.get("GITHUB_TOKEN")
        if not token or not self.event.repository:
            return None
        return GitHubApi(self.env.get("GITHUB_API_URL", "https://api.github.com"), token, self.transport)

    @property
    def marker(self) -> str:
        return marker_for(self.inputs.environment, manifest_set_id(self.env, self.inputs.manifests))


def run_action(env: Mapping[str, str], log: TextIO, *, github_transport: httpx.BaseTransport | None = None,
               command: Command | None = None) -> int:
    """The exit code of the step: 0 success (changes or not), 1 error."""
    runner = Runner(env, log)
    for secret in ("CHARIOT_TOKEN", "CHARIOT_CLIENT_SECRET", "GITHUB_TOKEN"):
        runner.mask(env.get(secret))
    runner.mask(url_password(env.get("CHARIOT_URL", "")))
    outputs = {"has-changes": "false", "exitcode": "1", "summary": "", "plan-json": "", "risk": "", "risk-reasons": "",
               "gpus": ""}
    step: Step | None = None
    try:
        inputs = ActionInputs.from_env({**env, **({"CHARIOT_APPLY_COMMAND": command} if command else {})})
        if inputs.embedded:  # said first, in the log as in the summary and the comment
            print("chariot-apply: chariot-url is `embedded`: this runs against the EMBEDDED EMULATOR; nothing "
                  "reaches a real Chariot.", file=log)
            if env.get("CHARIOT_TOKEN") or env.get("CHARIOT_CLIENT_ID"):
                runner.warning("Chariot credentials were given, but chariot-url is `embedded`: they are not used")
        step = Step(env, runner, inputs, GitHubEvent.from_env(env), github_transport, outputs)
        return _run(step)
    except ManifestError as exc:
        for problem in exc.problems:
            runner.error(f"{problem.message}" + (f" ({problem.hint})" if problem.hint else ""), problem)
        failure = "\n".join(f"- `{p}`" for p in exc.problems)
        runner.add_summary("### chariot-apply: the manifests have problems\n\n" + failure)
        _comment_failure(step, "the manifests have problems", failure)
    except UserError as exc:
        text = "\n".join((str(exc), *exc.details))
        runner.error(f"{text}" + (f" (hint: {exc.hint})" if exc.hint else ""))
        block = f"```\n{text}\n```\n" + (f"\n{exc.hint}\n" if exc.hint else "")
        runner.add_summary(f"### chariot-apply failed\n\n{block}")
        _comment_failure(step, "the plan failed", block)
    except Exception as exc:  # a bug: say so, with the traceback in the log for the report
        traceback.print_exception(exc, file=log)
        runner.error(f"chariot-apply failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug in "
                     "chariot-apply; please report it with this log.")
    runner.set_outputs(outputs)
    return 1


def _run(step: Step) -> int:
    inputs = step.inputs
    if inputs.command == "apply" and step.event.name == "pull_request" and not inputs.allow_apply_on_pull_request:
        raise ActionInputError(
            "command: apply on a pull_request event would apply the pull request's own branch, unreviewed, with "
            "the apply credentials", hint="plan on pull requests and apply on push to the default branch "
            "(examples/github/chariot-apply.yml); set allow-apply-on-pull-request: true if you mean it")
    # The Chariot is the one the input names: never CHARIOT_URL from elsewhere, never the project file's.
    env = {k: v for k, v in step.env.items() if k != "CHARIOT_URL"}
    # Over REST, to that URL: neither the branch's project file nor the runner's SDK may send the plan elsewhere.
    ws = project.open_workspace(inputs.manifests, env=env, chariot_url=None if inputs.embedded else inputs.chariot_url,
                                 server_from_project_file=False, backend="rest")
    try:
        if inputs.command == "report":
            return _report(step, ws)
        code = _plan_and_act(step, ws)
        if inputs.report and inputs.command == "reconcile":
            code = max(code, _report(step, ws))
        return code
    finally:
        run(ws.close())


def _plan_and_act(step: Step, ws: project.Workspace) -> int:
    inputs, runner = step.inputs, step.runner
    options = ws.plan_options(prune=inputs.prune, allow_replace=inputs.allow_replace, targets=inputs.targets,
                              excludes=inputs.excludes, allow_protected=_protected_allowed(step))
    plan = run(planning.plan(ws, options, commit=step.event.sha), bulk_heap=True)
    plan_path = runner.temp_dir() / "chariot-apply-plan.json"
    plan_path.write_text(plan_json(plan), "utf-8")
    runner.add_summary(render_markdown(plan))
    step.outputs |= {"has-changes": str(plan.has_changes).lower(), "summary": plan.summary(),
                     "plan-json": str(plan_path), "risk": plan.risk.level,
                     "risk-reasons": "; ".join(plan.risk.reasons), "gpus": plan.footprint.headline()}
    print(f"Plan for {plan.header()}: {plan.summary()}", file=step.log)
    match inputs.command:
        case "plan":
            return _plan(step, plan)
        case "apply":
            return _apply(step, ws, plan)
        case "drift":
            return _drift(step, plan)
        case "reconcile":
            return _reconcile(step, ws, plan)
        case "report":
            raise AssertionError("report makes no plan")
        case _:
            assert_never(inputs.command)


#: The pull request label that lets a plan stop, delete or replace a protected run.
ALLOW_PROTECTED_LABEL = "chariot-apply: allow-protected"


def _protected_allowed(step: Step) -> bool:
    """A reviewer's label on the pull request (the event's own, or on push the merged one's): protected runs may
    be touched. Nothing else lets them be, in the Action."""
    event = step.event
    if event.pull_request is not None:
        return ALLOW_PROTECTED_LABEL in event.labels
    api = step.github()
    if event.name != "push" or api is None or not event.sha or not event.repository:
        return False
    try:
        with api:
            pulls = api.pulls_for_commit(event.repository, event.sha)
    except GitHubError:
        return False  # not confirmed: protected runs stay protected
    merged = [p for p in pulls if p.merge_commit_sha == event.sha] or [p for p in pulls if p.merged]
    return bool(merged) and ALLOW_PROTECTED_LABEL in merged[0].labels


def _plan(step: Step, plan: Plan) -> int:
    runner = step.runner
    code = 1 if plan.needs_attention else (2 if plan.has_changes else 0)
    if step.inputs.comment and step.event.pull_request is not None:
        provenance = Provenance.of_env(step.env)
        _with_github(step, lambda api, pr: print(
            f"pull request comment: {comment_plan(api, pr, step.marker, plan, provenance)}", file=step.log))
    if step.inputs.labels and step.event.pull_request is not None:
        _with_github(step, lambda api, pr: set_plan_label(api, pr, plan))
    runner.set_outputs(step.outputs | {"exitcode": str(code)})
    _annotate_invalid(runner, plan)
    if plan.unreached:
        runner.error(f"{plan.unreached} declared run(s) are in conflict or need a replace that is not "
                     "allowed: the apply on merge would fail on them (see the plan)")
    return 1 if plan.needs_attention else 0


def _apply(step: Step, ws: project.Workspace, plan: Plan) -> int:
    runner = step.runner
    event = step.event.name
    if event == "pull_request_target":
        runner.warning("command: apply on a pull_request_target event runs with the base repository's secrets "
                       "for a pull request's code; apply on push to the default branch instead")
    refused = applying.refusal(plan)  # said before the review is read; `apply` itself refuses it too
    if refused is not None:
        _annotate_invalid(runner, plan)
        runner.error(f"{refused.message} (hint: {refused.hint})")
        runner.set_outputs(step.outputs)
        return 1
    pr = None
    if plan.has_changes:
        allowed, pr, why = review_gate(step, plan)
        if not allowed:
            runner.error(why[0])
            runner.add_summary("### chariot-apply: nothing was applied\n\n" + "\n".join(f"    {w}" for w in why))
            print("\n".join(why), file=step.log)
            runner.set_outputs(step.outputs)
            return 1
        for line in why:
            print(line, file=step.log)
    result = run(applying.apply(ws, plan, LogReporter(step.log), check_stale=False,
                                pull_request=pr.number if pr is not None else None))
    summary = summarize(result)
    runner.add_summary(apply_markdown(summary, plan.header()))
    if pr is not None and step.inputs.comment:
        marker = f"<!-- chariot-apply:applied:{label_of(step.inputs.environment)} -->"
        comment = apply_markdown(summary, plan.header(), limit=COMMENT_LIMIT - len(marker) - 1 - COMMENT_MARGIN)
        _with_github(step, lambda api, target: api.create_comment(target, f"{marker}\n{comment}"), pr)
    for outcome in result.failed:
        runner.error(f"{outcome.address}: {outcome.kind} failed: {outcome.detail}")
    attention = plan.unreached
    if attention:
        runner.error(f"{attention} declared run(s) were not brought to their declared state (conflicts or "
                     "blocked replacements): see the step summary")
    code = 1 if result.failed or attention else 0
    runner.set_outputs(step.outputs | {"exitcode": str(code)})
    return code


def _report(step: Step, ws: project.Workspace) -> int:
    """One results comment per pull request and environment, edited in place (never posted again unchanged), for
    the runs each pull request's merge created (their markers say which); on a pull request or its merge, only
    that one's."""
    runner, event = step.runner, step.event
    found = run(reporting.report(ws))
    only: int | None = None
    if event.pull_request is not None:
        only = event.pull_request.number
    elif event.name == "push" and (api := step.github()) is not None and event.sha and event.repository:
        try:
            with api:
                pulls = api.pulls_for_commit(event.repository, event.sha)
        except GitHubError as exc:
            runner.warning(f"results: GitHub could not say which pull request commit {event.sha[:12]} came from "
                           f"({exc}); no results comment")
            runner.set_outputs(step.outputs | {"exitcode": "0"})
            return 0
        merged = [p for p in pulls if p.merge_commit_sha == event.sha] or [p for p in pulls if p.merged]
        if not merged:
            print(f"results: commit {event.sha[:12]} came from no pull request (nothing to comment on)",
                  file=step.log)
            runner.set_outputs(step.outputs | {"exitcode": "0"})
            return 0
        only = merged[0].number
    numbers = [n for n in found.pull_requests() if only is None or n == only]
    runner.add_summary(render_report_markdown(found, title="chariot-apply results"))
    marker = results_marker(step.inputs.environment)
    for number in numbers:
        body = render_report_markdown(found.of_pull_request(number),
                                      title=f"chariot-apply results ({step.inputs.environment})",
                                      limit=COMMENT_LIMIT - len(marker) - COMMENT_MARGIN)

        def post(api: GitHubApi, target: PullRequest, text: str = body) -> None:
            print(f"results comment on #{target.number}: {upsert_sticky(api, target, marker, text)}", file=step.log)

        _with_github(step, post, PullRequest(event.repository or "", number))
    if not numbers:
        print("results: no run reported was created by a pull request's merge (nothing to comment on)",
              file=step.log)
    runner.set_outputs(step.outputs | {"exitcode": "0"})
    return 0


def _reconcile(step: Step, ws: project.Workspace, plan: Plan) -> int:
    """The scheduled job: carry out the lifecycle actions of the default branch's manifests (reviewed when they
    merged), and only those; declared drift is reported, never applied. The workflow's concurrency group keeps
    two from running at once."""
    runner = step.runner
    lifecycle = plan.only_lifecycle()
    result = run(applying.apply(ws, lifecycle, LogReporter(step.log), check_stale=False)) \
        if lifecycle.has_changes else ApplyResult(())
    runner.add_summary(apply_markdown(summarize(result), plan.header(), what="reconcile"))
    drift = plan.declared_keys()
    if drift:
        runner.warning(f"{len(drift)} declared change(s) found and not applied (reconcile applies only lifecycle "
                       "actions; a reviewed pull request applies the rest): " + "; ".join(drift[:5]))
    for outcome in result.failed:
        runner.error(f"{outcome.address}: {outcome.kind} failed: {outcome.detail}")
    _annotate_invalid(runner, plan)
    code = 1 if result.failed or plan.needs_attention else 0
    runner.set_outputs(step.outputs | {"exitcode": str(code), "has-changes": str(bool(drift)).lower()})
    return code


def review_gate(step: Step, plan: Plan) -> tuple[bool, PullRequest | None, list[str]]:
    """(apply?, the pull request the commit came from, what to say). A push applies what its pull request's
    plan comment showed, or less; anything more or different follows ``on-diverged``; a commit that came
    from no reviewed pull request follows ``on-unreviewed``."""
    inputs, event = step.inputs, step.event
    if event.name == "pull_request":
        return True, None, []  # applying from the pull request itself: the plan is this one
    unreviewed = inputs.on_unreviewed == "apply"
    api = step.github()
    if api is None or not event.sha or not event.repository:
        why = "no pull request can be looked up (no github-token, repository or commit)"
        return unreviewed, None, [f"unreviewed: {why}", *_policy("on-unreviewed", unreviewed)]
    with api:
        pulls = api.pulls_for_commit(event.repository, event.sha)
        merged = [p for p in pulls if p.merge_commit_sha == event.sha] or [p for p in pulls if p.merged] or pulls
        if not merged:
            return unreviewed, None, [f"unreviewed: commit {event.sha[:12]} came from no pull request",
                                      *_policy("on-unreviewed", unreviewed)]
        pull = merged[0]
        pr = PullRequest(event.repository, pull.number)
        body = read_sticky(api, pr, step.marker)
        record = ReviewRecord.read(body) if body else None
        if record is None or body is None:
            return unreviewed, pr, [f"unreviewed: pull request #{pr.number} shows no plan of chariot-apply for "
                                    f"{inputs.environment}", *_policy("on-unreviewed", unreviewed)]
        # What was seen is what is approved: the visible text must be what the record says, and the record must
        # come from a run of the plan workflow, as the default branch defines it, on the pull request's head.
        doubt = shown_differs(body, step.marker, record) or unproven(
            api, record, event.repository, pull, inputs.plan_workflow or workflow_path(
                step.env.get("GITHUB_WORKFLOW_REF", "")))
    if doubt is not None:
        return unreviewed, pr, [f"unreviewed: the plan comment on pull request #{pr.number} cannot be trusted: "
                                f"{doubt}", *_policy("on-unreviewed", unreviewed)]
    divergence = diverges(record, plan, pull.head_sha or None)
    if divergence is None:
        return True, pr, [f"reviewed: applying the plan shown in pull request #{pr.number} "
                          f"(fingerprint {record.fingerprint}, commit {record.sha[:12]})"]
    go = inputs.on_diverged == "apply"
    return go, pr, [f"diverged from the plan reviewed in pull request #{pr.number}: {divergence.lines()[0]}",
                    *divergence.lines()[1:], *_policy("on-diverged", go)]


def _policy(name: str, go: bool) -> list[str]:
    return [f"{name}: apply, so it is applied anyway" if go else
            f"nothing was applied ({name}: fail). Plan it in a pull request, or set {name}: apply"]


def _drift(step: Step, plan: Plan) -> int:
    drifted = plan.has_changes or bool(plan.needs_attention)
    step.runner.set_outputs(step.outputs | {"exitcode": "2" if drifted else "0"})
    api = step.github()
    if api is None or not step.event.repository:
        step.runner.warning("no github-token or repository: the drift issue cannot be kept")
        return 0
    with api:
        done = sync_drift_issue(api, step.event.repository, label_of(step.inputs.environment), plan)
    print(f"drift issue: {done}", file=step.log)
    return 0


def _with_github(step: Step, act: Callable[[GitHubApi, PullRequest], object],
                 pr: PullRequest | None = None) -> None:
    """Do ``act(api, pr)`` (``pr``: the event's pull request unless given); a read-only token or an unreachable
    GitHub is a warning, never the job's failure."""
    pr = pr or step.event.pull_request
    api = step.github()
    if pr is None:
        return
    if api is None:
        step.runner.warning("no github-token: the plan is in the step summary only")
        return
    try:
        with api:
            act(api, pr)
    except ReadOnlyToken as exc:
        step.runner.warning(f"{exc}. A pull request from a fork gets a read-only token: the plan is in the step "
                            "summary instead")
    except GitHubError as exc:
        step.runner.warning(f"could not write to the pull request: {exc}; the plan is in the step summary")


def _comment_failure(step: Step | None, what: str, details: str) -> None:
    """A plan that failed replaces the comment's content: a reviewer never sees an old plan as current."""
    if step is None or step.inputs.command != "plan" or not step.inputs.comment:
        return
    commit = f" for commit `{step.event.sha[:12]}`" if step.event.sha else ""
    body = f"### chariot-apply plan failed{commit}\n\n**{what}**; no plan is shown until it succeeds.\n\n{details}"
    _with_github(step, lambda api, pr: upsert_sticky(api, pr, step.marker, body[:COMMENT_LIMIT - 200]))


def _annotate_invalid(runner: Runner, plan: Plan) -> None:
    """Each invalid run's problems and each broken rule as an error, each blocked action as a warning, on the
    manifest line that causes it."""
    found: list[Invalid | Violation] = [*plan.invalid, *plan.violations]
    for item in found:
        rule = f" (rule {item.rule} at {item.rule_location})" if isinstance(item, Violation) else ""
        for problem in item.problems:
            runner.error(f"{item.address}: {problem.path}: {problem.message}{rule}", problem.location, problem.path)
    for blocked in plan.blocked:
        runner.warning(f"{headline(blocked)} (fix: {blocked.fix})", blocked.location, f"{blocked.action} blocked")


def manifest_set_id(env: Mapping[str, str], manifests: tuple[str, ...]) -> str:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    try:
        where = str(Path.cwd().resolve().relative_to(workspace))
    except ValueError:
        where = str(Path.cwd().resolve())
    return hashlib.sha256(f"{where}|{' '.join(manifests)}".encode()).hexdigest()[:12]
