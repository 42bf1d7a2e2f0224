"""What the Action writes on a pull request: the sticky plan comment (brief when nothing changes), the labels that
say what a plan does and how risky it is, and the marker of the results comment."""

from __future__ import annotations

from chariot_apply.github.api import BodyTooLarge, GitHubApi, PullRequest
from chariot_apply.github.comments import (
    COMMENT_LIMIT,
    Provenance,
    ReviewRecord,
    Upserted,
    brief,
    label_of,
    plan_comment,
    upsert_sticky,
)
from chariot_apply.plan.model import Plan
from chariot_apply.workspace import project as project

#: Characters left unused under GitHub's comment limit, for what it may count differently.
COMMENT_MARGIN = 1_000
LABELS = ("chariot-apply: no-changes", "chariot-apply: changes", "chariot-apply: destroys")
#: On a pull request whose plan is high risk (``Plan.risk``); removed when it is not.
HIGH_RISK_LABEL = "chariot-apply: high-risk"

def results_marker(environment: str) -> str:
    return f"<!-- chariot-apply:results:{label_of(environment)} -->"


def comment_plan(api: GitHubApi, pr: PullRequest, marker: str, plan: Plan,
                 provenance: Provenance) -> tuple[Upserted, ReviewRecord]:
    """The sticky comment for ``plan`` naming the record of what it shows (for the plan run's artifact): brief
    when nothing changes (and then only updating an existing one), otherwise summary and details cut to fit."""
    text, record = plan_comment(marker, plan, provenance)
    if brief(plan):
        return upsert_sticky(api, pr, marker, _after_marker(text), create_if_missing=False), record
    try:
        return upsert_sticky(api, pr, marker, _after_marker(text)), record
    except BodyTooLarge:  # GitHub counted differently than we did: leave a wide margin
        text, record = plan_comment(marker, plan, provenance, limit=(COMMENT_LIMIT - 2 * len(marker)) // 3)
        return upsert_sticky(api, pr, marker, _after_marker(text)), record


def _after_marker(text: str) -> str:
    return text.split("\n", 1)[1]


def set_plan_label(api: GitHubApi, pr: PullRequest, plan: Plan) -> None:
    """``chariot-apply: no-changes | changes | destroys`` on the pull request, the others removed."""
    counts = plan.counts()
    label = LABELS[2] if counts["delete"] or counts["replace"] else LABELS[1] if plan.has_changes else LABELS[0]
    for other in LABELS:
        if other != label:
            api.remove_label(pr, other)
    if plan.risk.level == "high":
        api.add_labels(pr, [label, HIGH_RISK_LABEL])
    else:
        api.remove_label(pr, HIGH_RISK_LABEL)
        api.add_labels(pr, [label])
