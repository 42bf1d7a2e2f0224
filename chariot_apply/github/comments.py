"""The sticky plan comment: one per environment and manifest set, found again by a hidden marker on its
first line, written and edited only by our own login, carrying a record of the plan that was reviewed: the plan
itself, so that on merge the comment's visible text can be proven to be what the record says."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chariot_apply.github.api import Comment, GitHubApi, PullRequest
from chariot_apply.plan.document import PlanDocument, plan_json
from chariot_apply.plan.model import Plan
from chariot_apply.render.markdown import render_markdown, summary_markdown

#: GitHub refuses comment bodies longer than this.
COMMENT_LIMIT = 65_536
#: The reviewed plan rides along compressed up to this size (about 1,500 runs); past it, the comment cannot prove
#: what the reviewer saw, and a merge of it is unreviewed.
RECORD_LIMIT = 40_000
RECORD = re.compile(r"<!-- chariot-apply:review (?P<json>\{.*?\}) -->")
FULL_PLAN_AT = "the workflow run's step summary (and the plan-json output, if uploaded as an artifact)"

Upserted = Literal["created", "updated", "unchanged", "skipped"]


def label_of(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "default"


def marker_for(environment: str, manifest_set: str = "default") -> str:
    return f"<!-- chariot-apply:plan:{label_of(environment)}:{label_of(manifest_set)} -->"


@dataclass(frozen=True)
class Provenance:
    """Which workflow run wrote a plan comment: checked on merge against GitHub's own record of that run."""

    run_id: int | None = None
    workflow: str | None = None  # the workflow file's path, ``.github/workflows/x.yml``
    repository: str | None = None

    @classmethod
    def of_env(cls, env: Mapping[str, str]) -> Provenance:
        run_id = env.get("GITHUB_RUN_ID", "")
        return cls(int(run_id) if run_id.isdigit() else None, workflow_path(env.get("GITHUB_WORKFLOW_REF", "")),
                   env.get("GITHUB_REPOSITORY") or None)


def workflow_path(ref: str) -> str | None:
    """``.github/workflows/x.yml`` from ``owner/repo/.github/workflows/x.yml@refs/...`` (or the path alone)."""
    found = re.search(r"(?:^|/)(\.github/workflows/[^@]+)", ref)
    return found.group(1) if found else None


@dataclass(frozen=True)
class ReviewRecord:
    """What a pull request's plan comment showed: the commit planned, the plan itself (redacted, compressed: the
    comment's visible text is re-rendered from it on merge and must match byte for byte), the character limit
    its details were cut to, and the workflow run that wrote it."""

    sha: str
    fingerprint: str
    plan: str | None  # the packed redacted plan document; None: too large to record
    limit: int | None = None
    provenance: Provenance = Provenance()

    @classmethod
    def of(cls, plan: Plan, provenance: Provenance = Provenance(), limit: int | None = None) -> ReviewRecord:
        packed = base64.b64encode(zlib.compress(plan_json(plan).encode(), 9)).decode()
        return cls(plan.target.commit if plan.target and plan.target.commit else "", plan.fingerprint(),
                   packed if len(packed) <= RECORD_LIMIT else None, limit, provenance)

    def reviewed_plan(self) -> Plan | None:
        """The plan the comment showed (as redacted for it), or None where it could not be recorded or read."""
        if self.plan is None:
            return None
        try:
            text = zlib.decompress(base64.b64decode(self.plan, validate=True)).decode()
            return PlanDocument.model_validate_json(text).plan
        except (ValueError, zlib.error):
            return None

    @property
    def actions(self) -> tuple[str, ...] | None:
        """What applying the reviewed plan would do, a line a change (None: not recorded)."""
        reviewed = self.reviewed_plan()
        return reviewed.action_keys() if reviewed is not None else None

    def render(self) -> str:
        data: dict[str, object] = {"v": 2, "sha": self.sha, "fingerprint": self.fingerprint}
        if self.plan is not None:
            data["plan"] = self.plan
        if self.limit is not None:
            data["limit"] = self.limit
        provenance = {"run": self.provenance.run_id, "workflow": self.provenance.workflow,
                      "repo": self.provenance.repository}
        data |= {k: v for k, v in provenance.items() if v is not None}
        return f"<!-- chariot-apply:review {json.dumps(data, separators=(',', ':'))} -->"

    @classmethod
    def read(cls, body: str) -> ReviewRecord | None:
        found = RECORD.search(body)
        if found is None:
            return None
        try:
            data = json.loads(found["json"])
            if not isinstance(data, dict) or data.get("v") != 2:
                return None
            run = data.get("run")
            limit = data.get("limit")
            return cls(str(data["sha"]), str(data["fingerprint"]),
                       str(data["plan"]) if isinstance(data.get("plan"), str) else None,
                       limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
                       Provenance(run if isinstance(run, int) and not isinstance(run, bool) else None,
                                  str(data["workflow"]) if isinstance(data.get("workflow"), str) else None,
                                  str(data["repo"]) if isinstance(data.get("repo"), str) else None))
        except (ValueError, KeyError, TypeError):
            return None


def plan_comment_text(marker: str, plan: Plan, provenance: Provenance, limit: int | None = None) -> str:
    """The whole sticky comment for ``plan``: marker, review record, then what the reviewer reads (brief when
    nothing changes, else summary and details cut to fit). Pure and deterministic: on merge the same function,
    given the recorded plan and limit, must give back the comment's text exactly."""
    if brief(plan):
        record = ReviewRecord.of(plan, provenance)
        return f"{marker}\n{record.render()}\n{summary_markdown(plan)}"
    if limit is None:
        unlimited = ReviewRecord.of(plan, provenance, limit=COMMENT_LIMIT)
        limit = COMMENT_LIMIT - len(marker) - len(unlimited.render()) - 2
    record = ReviewRecord.of(plan, provenance, limit=limit)
    body = render_markdown(plan, limit=limit, full_plan_at=FULL_PLAN_AT)
    return f"{marker}\n{record.render()}\n{body}"


def brief(plan: Plan) -> bool:
    """Nothing to change and nothing to show: the comment says so in a line (and is only ever updated)."""
    return not plan.has_changes and all(i.kind == "no-op" for i in plan.items)


def shown_differs(comment: str, marker: str, record: ReviewRecord) -> str | None:
    """Why the comment's visible text is not what our renderer makes from its record (None: it is, exactly,
    after GitHub's normalisation of line endings): a record that says more than the reviewer saw is refused."""
    reviewed = record.reviewed_plan()
    if reviewed is None:
        return ("the plan comment does not carry the reviewed plan (too large to record, or unreadable), so what "
                "the reviewer saw cannot be proven")
    if reviewed.fingerprint() != record.fingerprint:
        return "the plan comment's record does not match its own fingerprint"
    expected = plan_comment_text(marker, reviewed, record.provenance, None if brief(reviewed) else record.limit)
    seen = comment.replace("\r\n", "\n")
    if seen == expected:
        return None
    for number, (a, b) in enumerate(zip(seen.splitlines(), expected.splitlines(), strict=False), start=1):
        if a != b:
            return (f"the plan comment's visible text is not what its review record says (line {number}: shown "
                    f"{a[:80]!r}, the record makes {b[:80]!r})")
    return "the plan comment's visible text is not what its review record says (it is longer or shorter)"


def own_sticky(api: GitHubApi, pr: PullRequest, marker: str) -> list[Comment]:
    """Our comments that start with ``marker``, oldest first (a reviewer quoting the marker is not us)."""
    me = api.login()
    return [c for c in api.list_comments(pr) if c.user == me and c.body.startswith(marker)]


def read_sticky(api: GitHubApi, pr: PullRequest, marker: str) -> str | None:
    mine = own_sticky(api, pr, marker)
    return mine[-1].body if mine else None


def upsert_sticky(api: GitHubApi, pr: PullRequest, marker: str, body: str, *,
                  create_if_missing: bool = True) -> Upserted:
    """Update our newest comment carrying ``marker`` (removing older twins that concurrent jobs left), or
    create it."""
    text = f"{marker}\n{body}"
    mine = own_sticky(api, pr, marker)
    for twin in mine[:-1]:
        api.delete_comment(pr, twin.id)
    if mine:
        if mine[-1].body == text:
            return "unchanged"
        api.update_comment(pr, mine[-1].id, text)
        return "updated"
    if not create_if_missing:
        return "skipped"
    api.create_comment(pr, text)
    return "created"
