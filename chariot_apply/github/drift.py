"""The nightly drift check: one open issue while Chariot differs from the manifests, updated in place, closed
when they agree again."""

from __future__ import annotations

from typing import Literal

from chariot_apply.github.api import GitHubApi
from chariot_apply.plan.model import Plan
from chariot_apply.render.markdown import render_markdown

ISSUE_LIMIT = 65_536
Synced = Literal["opened", "updated", "unchanged", "closed", "in sync"]


def drift_marker(environment: str) -> str:
    return f"<!-- chariot-apply:drift:{environment} -->"


def has_drifted(plan: Plan) -> bool:
    """Changes, what needs attention and what is blocked keep the issue open: a blocked stop is a warning a team
    must still see, though it fails nothing."""
    return plan.has_changes or bool(plan.needs_attention) or bool(plan.blocked)


def sync_drift_issue(api: GitHubApi, repository: str, environment: str, plan: Plan) -> Synced:
    marker = drift_marker(environment)
    me = api.login()
    open_ = [i for i in api.open_issues(repository) if i.user == me and i.body.startswith(marker)]
    if not has_drifted(plan):
        for issue in open_:
            api.comment_issue(repository, issue.number, f"Back in sync: {plan.summary()}")
            api.update_issue(repository, issue.number, state="closed")
        return "closed" if open_ else "in sync"
    body = f"{marker}\n" + render_markdown(plan, title=f"chariot-apply: Chariot has drifted ({environment})",
                                           limit=ISSUE_LIMIT - len(marker) - 1,
                                           full_plan_at="the drift workflow's step summary")
    if open_:
        keep, *twins = open_
        for twin in twins:
            api.update_issue(repository, twin.number, state="closed")
        if keep.body == body:
            return "unchanged"
        api.update_issue(repository, keep.number, body=body)
        return "updated"
    api.create_issue(repository, f"chariot-apply: Chariot differs from the manifests ({environment})", body)
    return "opened"
