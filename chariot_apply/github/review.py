"""Applying what was reviewed: the plan made on merge against the one its pull request showed. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from chariot_apply.github.comments import ReviewRecord
from chariot_apply.plan.model import Plan


@dataclass(frozen=True)
class Divergence:
    """Why the merge-time plan is not the reviewed one, line by line where the record allows."""

    reason: str
    unreviewed: tuple[str, ...] = ()  # actions the merge would take that the review never showed
    dropped: tuple[str, ...] = ()  # reviewed actions the merge would not take (shown, never a reason)

    def lines(self) -> list[str]:
        return [self.reason, *(f"+ {a}" for a in self.unreviewed), *(f"  (no longer needed: {a})"
                                                                     for a in self.dropped)]


def diverges(reviewed: ReviewRecord, plan: Plan, merged_head: str | None) -> Divergence | None:
    """None when applying ``plan`` does what the reviewer saw, or less of it (a run that finished in between
    needs no stop any more); otherwise what differs."""
    if merged_head and reviewed.sha and reviewed.sha != merged_head:
        return Divergence(f"the plan in the pull request is for commit {reviewed.sha[:12]}, but {merged_head[:12]} "
                          "was merged: the last commit was never planned")
    now = set(plan.action_keys())
    if reviewed.actions is None:
        if plan.fingerprint() == reviewed.fingerprint:
            return None
        return Divergence(f"the merge-time plan ({plan.fingerprint()}) differs from the reviewed one "
                          f"({reviewed.fingerprint}); the review was too large to compare action by action",
                          tuple(sorted(now)))
    before = set(reviewed.actions)
    extra = tuple(sorted(now - before))
    if not extra:
        return None
    return Divergence(f"the merge-time plan does {len(extra)} thing(s) the reviewed plan did not show",
                      extra, tuple(sorted(before - now)))
