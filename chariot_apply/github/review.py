"""Applying what was reviewed: the plan made on merge against the one its pull request showed (pure), whether
the comment that showed it names a run of the plan workflow (``unproven``), and the record that run kept as its
own artifact (``kept_record``), through the API."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from chariot_apply.github.api import ARTIFACT_LIMIT, GitHubApi, GitHubError, MergedPull
from chariot_apply.github.comments import RECORD_FILE, ReviewRecord, artifact_name, workflow_path
from chariot_apply.plan.model import LIFECYCLE_KEY, Plan


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
    # Lifecycle actions (retention, promotion, limits, retries, creates after what they depend on) are what
    # already-reviewed rules call for as runs train: derived afresh from the merged manifests (the reviewed
    # commit: checked above), they never make a merge diverge; the declared changes must be within the review.
    now = {key for key in plan.action_keys() if not _lifecycle(key)}
    if reviewed.actions is None:
        if plan.fingerprint() == reviewed.fingerprint:
            return None
        return Divergence(f"the merge-time plan ({plan.fingerprint()}) differs from the reviewed one "
                          f"({reviewed.fingerprint}); the review was too large to compare action by action",
                          tuple(sorted(now)))
    before = {key for key in reviewed.actions if not _lifecycle(key)}
    extra = tuple(sorted(now - before))
    if not extra:
        return None
    return Divergence(f"the merge-time plan does {len(extra)} thing(s) the reviewed plan did not show",
                      extra, tuple(sorted(before - now)))


def unproven(api: GitHubApi, record: ReviewRecord, repository: str, pull: MergedPull,
             expected_workflow: str | None) -> str | None:
    """Why ``record`` cannot be proven to come from a run of the plan workflow on the pull request's head commit,
    as the base branch defines that workflow (None: it is proven). Every workflow of a repository comments as
    the same bot, so the author's login proves nothing; GitHub's record of the run does."""
    made_by = record.provenance
    if made_by.run_id is None or made_by.repository is None:
        return "it does not say which workflow run wrote it"
    if made_by.repository != repository:
        return f"it was written by a run in {made_by.repository}, not {repository}"
    if expected_workflow is None:
        return "this apply does not know which workflow makes the plans (set the plan-workflow input)"
    try:
        run = api.workflow_run(repository, made_by.run_id)
        if run.repository and run.repository != repository:
            return f"workflow run {run.id} belongs to {run.repository}, not {repository}"
        ran = workflow_path(run.path)
        if ran != expected_workflow or (made_by.workflow and made_by.workflow != ran):
            return f"workflow run {run.id} ran {ran or run.path!r}, not the plan workflow {expected_workflow!r}"
        if not pull.head_sha or run.head_sha != pull.head_sha:
            return (f"workflow run {run.id} planned commit {run.head_sha[:12]}, not the pull request's head "
                    f"{pull.head_sha[:12]}")
        if not pull.base_sha:
            return "GitHub did not say which base commit the pull request had, to compare its workflow with"
        at_head = api.file_sha(repository, expected_workflow, pull.head_sha)
        at_base = api.file_sha(repository, expected_workflow, pull.base_sha)
    except GitHubError as exc:
        return f"GitHub could not confirm the workflow run that wrote it ({exc})"
    if at_head is None or at_head != at_base:
        return (f"the pull request changed {expected_workflow}: its plan ran the branch's definition of the "
                "workflow, not the base branch's")
    return None


def kept_record(api: GitHubApi, repository: str, record: ReviewRecord,
                marker: str) -> tuple[ReviewRecord | None, str | None]:
    """The review record the plan run the comment names kept as its own artifact, with the whole plan, and
    None; or None and why there is none to trust. Any workflow can edit the comment; only that run could
    upload to its artifacts, so the comment counts only where it is the one the artifact describes."""
    run_id, name = record.provenance.run_id, artifact_name(marker)
    if run_id is None:
        return None, "it does not say which workflow run wrote it"
    if record.digest is None:
        return None, "it names no review record (written before records were kept as artifacts): re-run the plan"
    try:
        found = [a for a in api.run_artifacts(repository, run_id, name) if a.run_id in (None, run_id)]
        live = [a for a in found if not a.expired]
        if not live:
            why = "expired" if found else "none was uploaded"
            return None, (f"workflow run {run_id} keeps no review record (artifact {name}: {why}); only the plan "
                          "run can upload one, so the comment alone proves nothing: re-run the plan")
        data = api.download_artifact(repository, live[-1].id)
    except GitHubError as exc:
        return None, f"GitHub could not give the review record of workflow run {run_id} ({exc}; actions: read?)"
    text = _record_file(data)
    parsed = ReviewRecord.from_artifact(text) if text is not None else None
    if parsed is None:
        return None, f"the artifact {name} of workflow run {run_id} is not a review record chariot-apply can read"
    kept_marker, kept = parsed
    if kept_marker != marker:
        return None, f"the artifact {name} of workflow run {run_id} records another comment ({kept_marker})"
    if (kept.sha, kept.fingerprint, kept.digest, kept.limit, kept.provenance) != \
            (record.sha, record.fingerprint, record.digest, record.limit, record.provenance):
        return None, (f"the comment is not the one workflow run {run_id} recorded (the run planned "
                      f"{kept.fingerprint} at {kept.sha[:12]}; the comment says {record.fingerprint} at "
                      f"{record.sha[:12]})")
    return kept, None


def _record_file(data: bytes) -> str | None:
    """The record file of an artifact's zip, or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = next((i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == RECORD_FILE), None)
            if info is None or info.file_size > ARTIFACT_LIMIT:
                return None
            return archive.read(info).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError):
        return None


#: Kinds that were always lifecycle actions, in review records written before keys said ``lifecycle:``.
LIFECYCLE_KINDS = frozenset({"promote", "delete-checkpoints"})


def _lifecycle(action_key: str) -> bool:
    """``address kind spec-hash live-run-id``: whether it is a lifecycle action's key."""
    return f" {LIFECYCLE_KEY}" in action_key or any(f" {kind} " in action_key for kind in LIFECYCLE_KINDS)
