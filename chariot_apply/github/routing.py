"""``command: review``, for the push workflow's first job: the risk of what the merge will apply, read from the
trusted review records of the pull requests merged since the last applied commit (their plan runs' artifacts),
without a Chariot. Its output routes the apply job: ``environment: ${{ needs.review.outputs.risk == 'low' &&
'chariot' || 'chariot-high-risk' }}``, so a high-risk merge (or one with no risk said) waits for that
environment's required reviewers.
What cannot be proven reviewed is reported as high risk: the careful route is the default."""

from __future__ import annotations

from chariot_apply.github.api import GitHubError
from chariot_apply.github.gate import Review
from chariot_apply.github.step import Step
from chariot_apply.github.writers import last_applied_commit


def review(step: Step) -> int:
    """Set the ``risk`` and ``risk-reasons`` outputs from the reviewed plans of what this push merges."""
    event, runner = step.event, step.runner
    api = step.github()
    level, reasons = "high", ["no pull request's reviewed plan could be read"]
    if api is not None and event.sha and event.repository:
        try:
            with api:
                pulls, reviews, _ = step.merged_reviews(
                    api, last_applied_commit(api, event.repository, step.inputs.environment))
        except GitHubError as exc:
            reasons = [f"GitHub could not be read ({exc})"]
        else:
            level, reasons = _risk(reviews, bool(pulls))
    runner.set_outputs(step.outputs | {"risk": level, "risk-reasons": "; ".join(reasons), "exitcode": "0"})
    print(f"review: risk {level}" + (f" ({'; '.join(reasons)})" if reasons else ""), file=step.log)
    return 0


def _risk(reviews: list[Review], any_pulls: bool) -> tuple[str, list[str]]:
    if not any_pulls:
        return "high", ["the commit came from no pull request"]
    doubts = [r.doubt for r in reviews if r.doubt]
    if doubts:
        return "high", [f"unreviewed: {doubts[0]}"]
    reasons: list[str] = []
    for r in reviews:
        plan = r.record.reviewed_plan() if r.record is not None else None
        if plan is None:
            return "high", [f"pull request #{r.number}'s reviewed plan cannot be read"]
        reasons += [f"#{r.number}: {reason}" for reason in plan.risk.reasons] if plan.risk.level == "high" else []
    return ("high" if reasons else "low"), reasons
