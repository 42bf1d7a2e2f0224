"""The sticky plan comment: one per environment and manifest set, found again by a hidden marker on its
first line, written and edited only by our own login, naming the record of the plan that was reviewed. Every
workflow of a repository comments as the same bot, so the comment proves nothing by itself: the record (the
plan, at any size) is an artifact of the plan run, which only that run can upload; the comment carries its
digest, and on merge its visible text must be what our renderer makes of the artifact's plan."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from chariot_apply.github.api import Comment, GitHubApi, PullRequest
from chariot_apply.plan.document import PlanDocument, plan_json
from chariot_apply.plan.model import Plan
from chariot_apply.render.markdown import render_markdown, summary_markdown

#: GitHub refuses comment bodies longer than this.
COMMENT_LIMIT = 65_536
RECORD = re.compile(r"<!-- chariot-apply:review (?P<json>\{.*?\}) -->")
RECORD_VERSION = 3
RECORD_FILE = "chariot-apply-review.json"
FULL_PLAN_AT = "the workflow run's step summary (and the plan-json output, if uploaded as an artifact)"

Upserted = Literal["created", "updated", "unchanged", "skipped"]


def label_of(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "default"


def marker_for(environment: str, manifest_set: str = "default") -> str:
    return f"<!-- chariot-apply:plan:{label_of(environment)}:{label_of(manifest_set)} -->"


def artifact_name(marker: str) -> str:
    """The plan run's artifact holding the review record of the comment ``marker`` starts."""
    found = re.search(r"chariot-apply:plan:(?P<labels>[A-Za-z0-9._:-]+)", marker)
    return "chariot-apply-review-" + (found["labels"].replace(":", "-") if found else "default")


@dataclass(frozen=True)
class Provenance:
    """Which workflow run wrote a plan comment: checked on merge against GitHub's own record of that run."""

    run_id: int | None = None
    workflow: str | None = None  # the workflow file's path, ``.github/workflows/x.yml``
    repository: str | None = None
    server: str | None = None  # GITHUB_SERVER_URL: where the run's page (and its artifacts) is

    @classmethod
    def of_env(cls, env: Mapping[str, str]) -> Provenance:
        run_id = env.get("GITHUB_RUN_ID", "")
        return cls(int(run_id) if run_id.isdigit() else None, workflow_path(env.get("GITHUB_WORKFLOW_REF", "")),
                   env.get("GITHUB_REPOSITORY") or None, env.get("GITHUB_SERVER_URL") or None)

    def run_url(self) -> str | None:
        if self.run_id is None or not self.repository:
            return None
        return f"{(self.server or 'https://github.com').rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"


def workflow_path(ref: str) -> str | None:
    """``.github/workflows/x.yml`` from ``owner/repo/.github/workflows/x.yml@refs/...`` (or the path alone)."""
    found = re.search(r"(?:^|/)(\.github/workflows/[^@]+)", ref)
    return found.group(1) if found else None


@dataclass(frozen=True)
class ReviewRecord:
    """What a pull request's plan comment showed: the commit planned, the plan itself (redacted, compressed; held
    by the plan run's artifact, named in the comment by its ``digest``), the character limit its details were
    cut to, and the workflow run that wrote it."""

    sha: str
    fingerprint: str
    plan: str | None  # the packed redacted plan document; None where only the comment's line was read
    limit: int | None = None
    provenance: Provenance = Provenance()
    digest: str | None = None  # of the packed plan: what ties the comment to the artifact

    @classmethod
    def of(cls, plan: Plan, provenance: Provenance = Provenance(), limit: int | None = None) -> ReviewRecord:
        packed = base64.b64encode(zlib.compress(plan_json(plan).encode(), 6)).decode()
        return cls(plan.target.commit if plan.target and plan.target.commit else "", plan.fingerprint(), packed,
                   limit, provenance, _digest(packed))

    def reviewed_plan(self) -> Plan | None:
        """The plan the comment showed (as redacted for it), or None where it is not held or cannot be read."""
        return self._reviewed

    @functools.cached_property
    def _reviewed(self) -> Plan | None:
        """Unpacked once: the checks of a merge (the visible text, each change's coverage, the risk) all read it."""
        if self.plan is None or _digest(self.plan) != self.digest:
            return None
        try:
            text = zlib.decompress(base64.b64decode(self.plan, validate=True)).decode()
            return PlanDocument.model_validate_json(text).plan
        except (ValueError, zlib.error):
            return None

    @functools.cached_property
    def actions(self) -> frozenset[str] | None:
        """What applying the reviewed plan would do, a line a change (None: not held). Read once: a gate asks
        for each change of a merge whether the review showed it."""
        reviewed = self.reviewed_plan()
        return frozenset(reviewed.action_keys()) if reviewed is not None else None

    def _fields(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": RECORD_VERSION, "sha": self.sha, "fingerprint": self.fingerprint,
                                "digest": self.digest}
        if self.limit is not None:
            data["limit"] = self.limit
        provenance = {"run": self.provenance.run_id, "workflow": self.provenance.workflow,
                      "repo": self.provenance.repository, "server": self.provenance.server}
        return data | {k: v for k, v in provenance.items() if v is not None}

    def render(self) -> str:
        """The comment's line: everything but the plan, which only the artifact holds."""
        return f"<!-- chariot-apply:review {json.dumps(self._fields(), separators=(',', ':'))} -->"

    def artifact_text(self, marker: str) -> str:
        """The artifact's file: the comment's line, the marker of the comment it belongs to, and the plan."""
        return json.dumps(self._fields() | {"marker": marker, "plan": self.plan}, separators=(",", ":"))

    @classmethod
    def read(cls, body: str) -> ReviewRecord | None:
        """The record line of a comment (without its plan), or None."""
        found = RECORD.search(body)
        if found is None:
            return None
        try:
            return cls._parse(json.loads(found["json"]))
        except ValueError:
            return None

    @classmethod
    def from_artifact(cls, text: str) -> tuple[str, ReviewRecord] | None:
        """(the comment marker, the record with its plan) from an artifact's file, or None if it is not one."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        record = cls._parse(data)
        if record is None or not isinstance(data.get("marker"), str) or not isinstance(data.get("plan"), str):
            return None
        return data["marker"], replace(record, plan=data["plan"])

    @classmethod
    def _parse(cls, data: Any) -> ReviewRecord | None:
        if not isinstance(data, dict) or data.get("v") != RECORD_VERSION:
            return None
        if not isinstance(data.get("sha"), str) or not isinstance(data.get("fingerprint"), str):
            return None
        run, limit = data.get("run"), data.get("limit")
        text = {k: str(data[k]) if isinstance(data.get(k), str) else None
                for k in ("workflow", "repo", "server", "digest")}
        return cls(data["sha"], data["fingerprint"], None,
                   limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
                   Provenance(run if isinstance(run, int) and not isinstance(run, bool) else None,
                              text["workflow"], text["repo"], text["server"]), text["digest"])


def _digest(packed: str) -> str:
    return hashlib.sha256(packed.encode()).hexdigest()[:32]


def full_plan_at(provenance: Provenance, marker: str) -> str:
    """Where the whole plan is, for a comment cut to fit: the plan run's page and its artifact."""
    url = provenance.run_url()
    if url is None:
        return FULL_PLAN_AT
    return f"the artifact `{artifact_name(marker)}` of [workflow run {provenance.run_id}]({url}) (the review record)"


def plan_comment_text(marker: str, plan: Plan, provenance: Provenance, limit: int | None = None) -> str:
    """The whole sticky comment for ``plan`` (``plan_comment``'s text)."""
    return plan_comment(marker, plan, provenance, limit)[0]


def plan_comment(marker: str, plan: Plan, provenance: Provenance,
                 limit: int | None = None) -> tuple[str, ReviewRecord]:
    """The whole sticky comment for ``plan`` and the record it names: marker, record line, then what the reviewer
    reads (brief when nothing changes, else summary and details cut to fit). Pure and deterministic: on merge
    the same function, given the artifact's plan and the recorded limit, must give back the comment's text."""
    if brief(plan):
        record = ReviewRecord.of(plan, provenance)
        return f"{marker}\n{record.render()}\n{summary_markdown(plan)}", record
    record = ReviewRecord.of(plan, provenance, limit=limit or COMMENT_LIMIT)
    if limit is None:  # the record's line is as long whatever the limit (a number of the same digits)
        limit = COMMENT_LIMIT - len(marker) - len(record.render()) - 2
        record = replace(record, limit=limit)
    body = render_markdown(plan, limit=limit, full_plan_at=full_plan_at(provenance, marker))
    return f"{marker}\n{record.render()}\n{body}", record


def brief(plan: Plan) -> bool:
    """Nothing to change and nothing to show: the comment says so in a line (and is only ever updated)."""
    return not plan.has_changes and all(i.kind == "no-op" for i in plan.items)


def shown_differs(comment: str, marker: str, record: ReviewRecord) -> str | None:
    """Why the comment's visible text is not what our renderer makes from its record (None: it is, exactly,
    after GitHub's normalisation of line endings): a record that says more than the reviewer saw is refused."""
    reviewed = record.reviewed_plan()
    if reviewed is None:
        return "the review record's plan cannot be read, so what the reviewer saw cannot be proven"
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
