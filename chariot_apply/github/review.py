"""Where a reviewed plan came from: whether the comment that showed it names a run of the plan workflow
(``unproven``), and the record that run kept as its own artifact (``kept_record``), through the API. What the
merge may apply under it is ``gate.judge``'s."""

from __future__ import annotations

import io
import zipfile

from chariot_apply.github.api import ARTIFACT_LIMIT, GitHubApi, GitHubError, MergedPull
from chariot_apply.github.comments import RECORD_FILE, ReviewRecord, artifact_name, workflow_path


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
