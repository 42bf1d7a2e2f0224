"""One run of the action: what it was given (inputs, event, environment) and where it reports (the runner, the
pull request); the helpers every command of it uses."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from chariot_apply.apply.executor import Outcome, Reporter
from chariot_apply.github.api import GitHubApi, GitHubError, MergedPull, PullRequest, ReadOnlyToken
from chariot_apply.github.approvals import approver
from chariot_apply.github.comments import (
    marker_for,
    workflow_path,
)
from chariot_apply.github.event import GitHubEvent
from chariot_apply.github.gate import Review, merged_pulls, read_review
from chariot_apply.github.inputs import ActionInputs
from chariot_apply.github.runner import Runner
from chariot_apply.plan.model import Invalid, Plan, Violation
from chariot_apply.render.describe import headline, outcome_line
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

    @property
    def plan_workflow(self) -> str | None:
        """The workflow whose pull-request runs make the plan comments a merge trusts: the input, else this one."""
        return self.inputs.plan_workflow or workflow_path(self.env.get("GITHUB_WORKFLOW_REF", ""))

    def merged_reviews(self, api: GitHubApi, last_applied: str | None) -> tuple[list[MergedPull], list[Review],
                                                                                list[str]]:
        """The pull requests merged since ``last_applied`` up to this event's commit, each one's review as a merge
        may trust it, and what to say of the look-up."""
        repository, sha = self.event.repository or "", self.event.sha or ""
        pulls, notes = merged_pulls(api, repository, sha, last_applied)
        return pulls, [read_review(api, repository, pull, self.marker, self.inputs.environment, self.plan_workflow)
                       for pull in pulls], notes


#: The pull request label that lets a plan stop, delete or replace a protected run.
ALLOW_PROTECTED_LABEL = "chariot-apply: allow-protected"


def protected_allowed(step: Step) -> bool:
    """Whether protected runs may be stopped, deleted or replaced. With ``approvals-for: protected`` (the
    default), a merge needs an approving review of the merged pull request's last commit by someone with write
    access; its label is only the signal that shows, in the pull request's plan, what the merge would do. Without
    it, the label alone (the old rule)."""
    event, needs_approval = step.event, "protected" in step.inputs.approvals_for
    if event.pull_request is not None:
        return ALLOW_PROTECTED_LABEL in event.labels or (needs_approval and event.sha is not None and _approved(
            step, event.pull_request.number, event.sha))
    api = step.github()
    if event.name != "push" or api is None or not event.sha or not event.repository:
        return False
    try:
        with api:
            pulls = api.pulls_for_commit(event.repository, event.sha)
    except GitHubError:
        return False  # not confirmed: protected runs stay protected
    merged = [p for p in pulls if p.merge_commit_sha == event.sha] or [p for p in pulls if p.merged]
    if not merged:
        return False
    if not needs_approval:
        return ALLOW_PROTECTED_LABEL in merged[0].labels
    allowed = _approved(step, merged[0].number, merged[0].head_sha)
    if not allowed and ALLOW_PROTECTED_LABEL in merged[0].labels:
        print(f"the {ALLOW_PROTECTED_LABEL!r} label is a signal, not a permission: protected runs stay protected "
              "without an approving review (approvals-for: protected)", file=step.log)
    return allowed


def _approved(step: Step, number: int, head_sha: str) -> bool:
    api = step.github()
    if api is None or not step.event.repository:
        return False
    with api:
        who, said = approver(api, step.event.repository, number, head_sha)
    print(f"protected runs: {said}", file=step.log)
    return who is not None


def with_github(step: Step, act: Callable[[GitHubApi, PullRequest], object],
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


def annotate_plan(runner: Runner, plan: Plan) -> None:
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
