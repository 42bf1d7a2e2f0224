"""What a merge may apply: every declared change of the merge-time plan must be one that a pull request merged
since the last applied commit showed in its reviewed plan. Merged means applied: a merge whose apply was cancelled
or failed is caught up by the next writer, under the review of the pull request that merged it; what no review
covers is named (which change, which pull requests were read) and not applied.

Lifecycle actions (limits, retries, promotions, retention, creates once what they depend on finished) are what
already-reviewed rules call for as runs train: they never need a review of their own."""

from __future__ import annotations

from dataclasses import dataclass, field

from chariot_apply.github.api import GitHubApi, MergedPull, PullRequest
from chariot_apply.github.comments import ReviewRecord, read_sticky, shown_differs
from chariot_apply.github.review import kept_record, unproven
from chariot_apply.plan.model import LIFECYCLE_KEY, Plan

#: Merges looked at, at the most, since the last applied commit.
MOST_MERGES = 250


@dataclass(frozen=True)
class Review:
    """A merged pull request's reviewed plan, as its comment records it (None: it shows none), and why it cannot
    be trusted (None: it can)."""

    number: int
    record: ReviewRecord | None
    doubt: str | None = None

    @property
    def trusted(self) -> bool:
        return self.record is not None and self.doubt is None

    def covers(self, key: str) -> bool:
        """Whether this review showed the declared change ``key``. A trusted review's record always holds its
        plan (``read_review`` trusts none whose plan cannot be read)."""
        return self.trusted and self.record is not None and key in (self.record.actions or frozenset())


@dataclass(frozen=True)
class Verdict:
    """Whether the merge may apply, what to say, and the pull request whose review covers each address."""

    go: bool
    lines: tuple[str, ...]
    covering: dict[str, int] = field(default_factory=dict)
    reviews: tuple[Review, ...] = ()


def merged_pulls(api: GitHubApi, repository: str, head: str, last_applied: str | None) -> tuple[list[MergedPull],
                                                                                                 list[str]]:
    """The pull requests merged since ``last_applied`` up to ``head``, oldest first (only ``head``'s where no
    commit was applied yet, or the last applied one is not an ancestor of ``head``); and what to say of it."""
    notes: list[str] = []
    shas = [head]
    if last_applied is not None and last_applied != head:
        between = api.commits_between(repository, last_applied, head)
        if between is None:
            notes.append(f"the last applied commit {last_applied[:12]} is not an ancestor of {head[:12]} (a force "
                         "push?): only this commit's pull request is read")
        else:
            shas = between[-MOST_MERGES:] or [head]
            if len(shas) > 1:
                notes.append(f"catching up {len(shas)} commits since the last applied one ({last_applied[:12]})")
    pulls: dict[int, MergedPull] = {}
    for sha in shas:
        found = api.pulls_for_commit(repository, sha)
        for pull in [p for p in found if p.merge_commit_sha == sha] or [p for p in found if p.merged]:
            pulls.setdefault(pull.number, pull)
    return list(pulls.values()), notes


def read_review(api: GitHubApi, repository: str, pull: MergedPull, marker: str, environment: str,
                plan_workflow: str | None) -> Review:
    """The pull request's reviewed plan, trusted only if its comment names a run of the plan workflow (as the base
    branch defines it) on the pull request's head, that run kept the comment's record as its own artifact, the
    comment's visible text is what our renderer makes of the artifact's plan, and that head is what was merged."""
    body = read_sticky(api, PullRequest(repository, pull.number), marker)
    record = ReviewRecord.read(body) if body else None
    if record is None or body is None:
        return Review(pull.number, None, f"pull request #{pull.number} shows no plan of chariot-apply for "
                                         f"{environment}")
    doubt = unproven(api, record, repository, pull, plan_workflow)
    if doubt is None:
        kept, doubt = kept_record(api, repository, record, marker)
        record = kept or record
    doubt = doubt or shown_differs(body, marker, record)
    if doubt is None and pull.head_sha and record.sha and record.sha != pull.head_sha:
        doubt = (f"its plan is for commit {record.sha[:12]}, but {pull.head_sha[:12]} was merged: the last commit "
                 "was never planned")
    return Review(pull.number, record, None if doubt is None else
                  f"the plan comment on pull request #{pull.number} cannot be trusted: {doubt}")


def judge(plan: Plan, reviews: list[Review], on_unreviewed: bool, on_diverged: bool,
          context: list[str]) -> Verdict:
    """Whether ``plan`` may be applied under ``reviews``; ``on_unreviewed``/``on_diverged``: apply anyway."""
    covering, uncovered = _coverage(plan, reviews)
    doubts = [r.doubt for r in reviews if r.doubt]
    trusted = [r for r in reviews if r.trusted]
    if not uncovered:
        return Verdict(True, (*context, _reviewed_words(covering, trusted)), covering, tuple(reviews))
    if not trusted:
        first = doubts[0] if doubts else "the commit came from no pull request"
        return Verdict(on_unreviewed, (f"unreviewed: {first}", *doubts[1:], *context,
                                       *[f"+ {k}" for k in uncovered], *_policy("on-unreviewed", on_unreviewed)),
                       covering, tuple(reviews))
    numbers = ", ".join(f"#{r.number}" for r in trusted)
    whose = f"the plan reviewed in pull request {numbers}" if len(trusted) == 1 else \
        f"the plans reviewed in pull requests {numbers}"
    return Verdict(on_diverged, (f"diverged from {whose}: the merge-time plan does {len(uncovered)} thing(s) no "
                                 "reviewed plan showed", *[f"+ {k}" for k in uncovered], *doubts, *context,
                                 *_policy("on-diverged", on_diverged)), covering, tuple(reviews))


def _coverage(plan: Plan, reviews: list[Review]) -> tuple[dict[str, int], list[str]]:
    """(the newest pull request whose review showed each address's declared change, the changes none showed)."""
    covering: dict[str, int] = {}
    uncovered: list[str] = []
    for key in (k for k in plan.action_keys() if LIFECYCLE_KEY not in k):
        by = [r.number for r in reviews if r.covers(key)]
        if by:
            covering[key.split(" ", 1)[0]] = by[-1]
        else:
            uncovered.append(key)
    return covering, uncovered


def _reviewed_words(covering: dict[str, int], trusted: list[Review]) -> str:
    shown = sorted(set(covering.values())) or [r.number for r in trusted]
    if not shown:
        return "reviewed: nothing declared to apply"
    what = (f"the plan shown in pull request #{shown[0]}" if len(shown) == 1 else
            "what pull requests " + ", ".join(f"#{n}" for n in shown) + " showed (each change under its review)")
    fingerprints = ", ".join(f"#{r.number} {r.record.fingerprint}" for r in trusted if r.record)
    return f"reviewed: applying {what} ({fingerprints})"


def _policy(name: str, go: bool) -> list[str]:
    return [f"{name}: apply, so it is applied anyway" if go else
            f"nothing was applied ({name}: fail). Plan it in a pull request, or set {name}: apply"]
