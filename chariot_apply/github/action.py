"""The composite action's work, as one function of the runner's environment: plan or apply, then report
through the runner (outputs, step summary, annotations) and the pull request (a sticky comment)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

import httpx

from chariot_apply import workflow
from chariot_apply.apply.executor import ApplyResult, Outcome, Reporter
from chariot_apply.errors import UserError
from chariot_apply.github.comments import (
    COMMENT_LIMIT,
    BodyTooLarge,
    GitHubComments,
    GitHubError,
    PullRequest,
    ReadOnlyToken,
    Upserted,
    marker_for,
    pull_request_from_event,
    upsert_sticky,
)
from chariot_apply.github.runner import Runner
from chariot_apply.manifest.errors import ManifestError
from chariot_apply.plan.model import Plan, PlanOptions
from chariot_apply.render.describe import outcome_line
from chariot_apply.render.document import render_json
from chariot_apply.render.markdown import render_markdown, summary_markdown

FULL_PLAN_AT = "the workflow run's step summary (and the plan-json output, if uploaded as an artifact)"


class ActionInputError(UserError):
    hint = "fix the action's inputs in the workflow file"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise ActionInputError(f"{name} must be 'true' or 'false', not {value!r}")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class ActionInputs:
    command: Literal["plan", "apply"]
    manifests: tuple[str, ...]
    prune: bool
    allow_replace: bool
    targets: tuple[str, ...]
    comment: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        command = env.get("CHARIOT_APPLY_COMMAND", "plan").strip() or "plan"
        if command not in ("plan", "apply"):
            raise ActionInputError(f"command must be 'plan' or 'apply', not {command!r}")
        return cls(command=command, manifests=_words(env.get("CHARIOT_APPLY_MANIFESTS", "")),  # type: ignore[arg-type]
                   prune=_flag(env, "CHARIOT_APPLY_PRUNE", False),
                   allow_replace=_flag(env, "CHARIOT_APPLY_ALLOW_REPLACE", False),
                   targets=_words(env.get("CHARIOT_APPLY_TARGET", "")),
                   comment=_flag(env, "CHARIOT_APPLY_COMMENT", True))


class LogReporter(Reporter):
    def __init__(self, log: TextIO) -> None:
        self.log = log

    def finished(self, outcome: Outcome) -> None:
        print(outcome_line(outcome.address, outcome.kind, outcome.ok, outcome.detail, outcome.run_id), file=self.log)


def run_action(env: Mapping[str, str], log: TextIO, *,
               github_transport: httpx.BaseTransport | None = None) -> int:
    """The exit code of the step: 0 success (changes or not), 1 error."""
    runner = Runner(env, log)
    for secret in ("CHARIOT_TOKEN", "CHARIOT_CLIENT_SECRET", "GITHUB_TOKEN"):
        runner.mask(env.get(secret))
    outputs = {"has-changes": "false", "exitcode": "1", "summary": "", "plan-json": ""}
    try:
        return _run(env, runner, outputs, github_transport)
    except ManifestError as exc:
        for problem in exc.problems:
            runner.error(f"{problem.message}" + (f" ({problem.hint})" if problem.hint else ""), problem)
        runner.add_summary("### chariot-apply: the manifests have problems\n\n"
                           + "\n".join(f"- `{p}`" for p in exc.problems))
    except UserError as exc:
        text = "\n".join((str(exc), *exc.details))
        runner.error(f"{text}" + (f" (hint: {exc.hint})" if exc.hint else ""))
        runner.add_summary(f"### chariot-apply failed\n\n```\n{text}\n```\n" + (f"\n{exc.hint}\n" if exc.hint else ""))
    except Exception as exc:  # a bug: say so, with the traceback in the log for the report
        traceback.print_exception(exc, file=log)
        runner.error(f"chariot-apply failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug in "
                     "chariot-apply; please report it with this log.")
    runner.set_outputs(outputs)
    return 1


def _run(env: Mapping[str, str], runner: Runner, outputs: dict[str, str],
         github_transport: httpx.BaseTransport | None) -> int:
    log = runner.log
    inputs = ActionInputs.from_env(env)
    ws = workflow.open_workspace(inputs.manifests, env=env)
    options = PlanOptions(owner=ws.project.owner, prune=inputs.prune, allow_replace=inputs.allow_replace,
                          targets=inputs.targets)
    plan = asyncio.run(workflow.plan(ws, options))
    plan_path = runner.temp_dir() / "chariot-apply-plan.json"
    plan_path.write_text(render_json(plan), "utf-8")
    runner.add_summary(render_markdown(plan))
    outputs |= {"has-changes": str(plan.has_changes).lower(), "summary": plan.summary(),
                "plan-json": str(plan_path)}
    print(plan.summary(), file=log)
    if inputs.command == "plan":
        if inputs.comment:
            _comment(env, runner, plan, inputs, github_transport)
        code = 1 if plan.needs_attention else (2 if plan.has_changes else 0)
        runner.set_outputs(outputs | {"exitcode": str(code)})
        _annotate_invalid(runner, plan)
        if plan.unreached:
            runner.error(f"{plan.unreached} declared run(s) are in conflict or need a replace that is not "
                         "allowed: the apply on merge would fail on them (see the plan)")
        return 1 if plan.needs_attention else 0
    return _apply(ws, plan, runner, outputs, log)


def _apply(ws: workflow.Workspace, plan: Plan, runner: Runner, outputs: dict[str, str], log: TextIO) -> int:
    if plan.invalid:
        _annotate_invalid(runner, plan)
        runner.set_outputs(outputs)
        return 1
    result = asyncio.run(workflow.apply(ws, plan, LogReporter(log), check_stale=False))
    runner.add_summary(_outcomes_markdown(result))
    attention = plan.unreached
    for outcome in result.failed:
        runner.error(f"{outcome.address}: {outcome.kind} failed: {outcome.detail}")
    if attention:
        runner.error(f"{attention} declared run(s) were not brought to their declared state (conflicts or "
                     "blocked replacements): see the step summary")
    code = 1 if result.failed or attention else 0
    runner.set_outputs(outputs | {"exitcode": str(code)})
    return code


def _annotate_invalid(runner: Runner, plan: Plan) -> None:
    for item in plan.invalid:
        for problem in item.problems:
            runner.error(f"{item.address}: {problem.path}: {problem.message}")


def _outcomes_markdown(result: ApplyResult) -> str:
    rows = "\n".join(f"| `{o.address}` | {o.kind} | {'✅' if o.ok else '❌'} {o.detail} |" for o in result.outcomes)
    head = f"### chariot-apply: apply {'complete' if result.ok else 'incomplete'}\n\n"
    return head + ("| run | action | outcome |\n|---|---|---|\n" + rows if rows else "Nothing to do.") + "\n"


def comment_plan(github: GitHubComments, pr: PullRequest, marker: str, plan: Plan) -> Upserted:
    """The sticky comment for ``plan``: brief when nothing changes (and then only updating an existing one),
    otherwise summary and details cut to GitHub's limit."""
    if not plan.has_changes and all(i.kind == "no-op" for i in plan.items):
        return upsert_sticky(github, pr, marker, summary_markdown(plan), create_if_missing=False)
    limit = COMMENT_LIMIT - len(marker) - 1
    try:
        return upsert_sticky(github, pr, marker, render_markdown(plan, limit=limit, full_plan_at=FULL_PLAN_AT))
    except BodyTooLarge:  # GitHub counted differently than we did: leave a wide margin
        return upsert_sticky(github, pr, marker, render_markdown(plan, limit=limit // 2, full_plan_at=FULL_PLAN_AT))


def manifest_set_id(env: Mapping[str, str], inputs: ActionInputs) -> str:
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    try:
        where = str(Path.cwd().resolve().relative_to(workspace))
    except ValueError:
        where = str(Path.cwd().resolve())
    return hashlib.sha256(f"{where}|{' '.join(inputs.manifests)}".encode()).hexdigest()[:12]


def _comment(env: Mapping[str, str], runner: Runner, plan: Plan, inputs: ActionInputs,
             transport: httpx.BaseTransport | None) -> None:
    pr = pull_request_from_event(env.get("GITHUB_EVENT_PATH"), env.get("GITHUB_REPOSITORY"))
    if pr is None:
        return
    token = env.get("GITHUB_TOKEN")
    if not token:
        runner.warning("no github-token: the plan is in the step summary only")
        return
    marker = marker_for(manifest_set_id(env, inputs))
    github = GitHubComments(env.get("GITHUB_API_URL", "https://api.github.com"), token, transport)
    try:
        action = comment_plan(github, pr, marker, plan)
        print(f"pull request comment: {action}", file=runner.log)
    except ReadOnlyToken as exc:
        runner.warning(f"{exc}. A pull request from a fork gets a read-only token: the plan is in the step "
                       "summary instead")
    except GitHubError as exc:
        runner.warning(f"could not comment on the pull request: {exc}; the plan is in the step summary")
    finally:
        github.close()
