"""The composite action's work, as one function of the runner's environment: plan, apply or check drift,
then report through the runner (outputs, step summary, annotations) and GitHub (comments, labels, issues).

The pull request is the contract: the Chariot is the one the ``chariot-url`` input names (never the checked-out
project file's ``server.url``, never a silent emulator), every plan says which, and on merge the Action applies
only what the pull request's plan comment showed (or less of it).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import TextIO, assert_never

import httpx

from chariot_apply.backends.rest.settings import url_password
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.github import routing, writing
from chariot_apply.github.api import GitHubApi, GitHubError, PullRequest
from chariot_apply.github.comments import (
    COMMENT_LIMIT,
    RECORD_FILE,
    Provenance,
    ReviewRecord,
    artifact_name,
    label_of,
    upsert_sticky,
)
from chariot_apply.github.drift import has_drifted, sync_drift_issue
from chariot_apply.github.event import GitHubEvent
from chariot_apply.github.inputs import ActionInputError, ActionInputs, Command
from chariot_apply.github.pull_request import COMMENT_MARGIN, comment_plan, results_marker, set_plan_label
from chariot_apply.github.runner import Runner
from chariot_apply.github.step import Step, annotate_plan, protected_allowed, with_github
from chariot_apply.manifest.errors import ManifestError
from chariot_apply.plan.document import plan_json
from chariot_apply.plan.model import Plan
from chariot_apply.render.markdown import render_markdown
from chariot_apply.render.report import render_report_markdown
from chariot_apply.runtime.asyncrun import run
from chariot_apply.usecases import planning, reporting
from chariot_apply.workspace import project as project


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
    if step.event.from_fork and not inputs.embedded and not _credentials(step.env):
        return _fork_without_secrets(step)
    if inputs.command == "review":
        return routing.review(step)  # GitHub only: the risk of what the merge applies, from its reviews
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


FORK_NOTICE = (
    "this pull request comes from a fork, and GitHub gives a fork's pull_request runs no secrets: there is no "
    "Chariot credential to plan with, so nothing was planned. To plan it: a maintainer re-runs the plan after "
    "reviewing the code (for example a workflow_dispatch on a branch pushed to this repository), or a "
    "pull_request_target workflow that checks out only the manifests (never the fork's code or action) with the "
    "read-only client; see docs/github-action.md")


def _credentials(env: Mapping[str, str]) -> bool:
    return any(env.get(k, "").strip() for k in ("CHARIOT_TOKEN", "CHARIOT_CLIENT_ID", "CHARIOT_CLIENT_SECRET"))


def _fork_without_secrets(step: Step) -> int:
    """One clear notice, exit 0: a fork's pull request is not a failure of the plan."""
    step.runner.notice(FORK_NOTICE, "chariot-apply: a fork's pull request")
    step.runner.add_summary(f"### chariot-apply: not planned\n\n{FORK_NOTICE}\n")
    step.runner.set_outputs(step.outputs | {"exitcode": "0"})
    return 0


def _plan_and_act(step: Step, ws: project.Workspace) -> int:
    if step.inputs.command in ("apply", "reconcile"):
        return writing.write(step, ws, lambda: _make_plan(step, ws))  # planned in its writer's turn
    plan = _make_plan(step, ws)
    match step.inputs.command:
        case "plan":
            return _plan(step, plan)
        case "drift":
            return _drift(step, plan)
        case "apply" | "reconcile" | "report" | "review":
            raise AssertionError("planned above, or no plan")
        case _:
            assert_never(step.inputs.command)


def _make_plan(step: Step, ws: project.Workspace) -> Plan:
    """The plan of the checked-out manifests, said in the step summary, the outputs and the log."""
    inputs, runner = step.inputs, step.runner
    options = ws.plan_options(prune=inputs.prune, allow_replace=inputs.allow_replace, targets=inputs.targets,
                              excludes=inputs.excludes, allow_protected=protected_allowed(step))
    plan = run(planning.plan(ws, options, commit=step.event.sha), bulk_heap=True)
    plan_path = runner.temp_dir() / "chariot-apply-plan.json"
    plan_path.write_text(plan_json(plan), "utf-8")
    runner.add_summary(render_markdown(plan))
    step.outputs |= {"has-changes": str(plan.has_changes).lower(), "summary": plan.summary(),
                     "plan-json": str(plan_path), "risk": plan.risk.level,
                     "risk-reasons": "; ".join(plan.risk.reasons), "gpus": plan.footprint.headline()}
    print(f"Plan for {plan.header()}: {plan.summary()}", file=step.log)
    return plan


def _plan(step: Step, plan: Plan) -> int:
    runner = step.runner
    code = 1 if plan.needs_attention else (2 if plan.has_changes else 0)
    if step.inputs.comment and step.event.pull_request is not None:
        provenance = Provenance.of_env(step.env)

        def post(api: GitHubApi, pr: PullRequest) -> None:
            done, record = comment_plan(api, pr, step.marker, plan, provenance)
            print(f"pull request comment: {done}", file=step.log)
            keep_review_record(step, record)

        with_github(step, post)
    if step.inputs.labels and step.event.pull_request is not None:
        with_github(step, lambda api, pr: set_plan_label(api, pr, plan))
    runner.set_outputs(step.outputs | {"exitcode": str(code)})
    annotate_plan(runner, plan)
    if plan.unreached:
        runner.error(f"{plan.unreached} declared run(s) are in conflict or need a replace that is not "
                     "allowed: the apply on merge would fail on them (see the plan)")
    return 1 if plan.needs_attention else 0


def keep_review_record(step: Step, record: ReviewRecord) -> None:
    """The review record, as a file for the action's next step to upload as this run's own artifact (only this
    run can): what a merge trusts, whole at any size, whatever becomes of the comment."""
    folder = step.runner.temp_dir() / artifact_name(step.marker)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORD_FILE
    path.write_text(record.artifact_text(step.marker), "utf-8")
    step.outputs |= {"review-record": str(path), "review-artifact": artifact_name(step.marker)}


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

        with_github(step, post, PullRequest(event.repository or "", number))
    if not numbers:
        print("results: no run reported was created by a pull request's merge (nothing to comment on)",
              file=step.log)
    runner.set_outputs(step.outputs | {"exitcode": "0"})
    return 0


def _drift(step: Step, plan: Plan) -> int:
    drifted = has_drifted(plan)
    step.runner.set_outputs(step.outputs | {"exitcode": "2" if drifted else "0"})
    api = step.github()
    if api is None or not step.event.repository:
        step.runner.warning("no github-token or repository: the drift issue cannot be kept")
        return 0
    with api:
        done = sync_drift_issue(api, step.event.repository, label_of(step.inputs.environment), plan)
    print(f"drift issue: {done}", file=step.log)
    return 0


def _comment_failure(step: Step | None, what: str, details: str) -> None:
    """A plan that failed replaces the comment's content: a reviewer never sees an old plan as current."""
    if step is None or step.inputs.command != "plan" or not step.inputs.comment:
        return
    commit = f" for commit `{step.event.sha[:12]}`" if step.event.sha else ""
    body = f"### chariot-apply plan failed{commit}\n\n**{what}**; no plan is shown until it succeeds.\n\n{details}"
    with_github(step, lambda api, pr: upsert_sticky(api, pr, step.marker, body[:COMMENT_LIMIT - 200]))


