"""The sticky plan comment: one per environment and manifest set, found again by a hidden marker on its
first line, written and edited only by our own login, carrying a record of the plan that was reviewed."""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass
from typing import Literal

from chariot_apply.github.api import Comment, GitHubApi, PullRequest
from chariot_apply.plan.model import Plan

#: GitHub refuses comment bodies longer than this.
COMMENT_LIMIT = 65_536
#: The reviewed actions ride along compressed up to this size; past it, only the fingerprint does.
RECORD_LIMIT = 16_000
RECORD = re.compile(r"<!-- chariot-apply:review (?P<json>\{.*?\}) -->")

Upserted = Literal["created", "updated", "unchanged", "skipped"]


def label_of(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "default"


def marker_for(environment: str, manifest_set: str = "default") -> str:
    return f"<!-- chariot-apply:plan:{label_of(environment)}:{label_of(manifest_set)} -->"


@dataclass(frozen=True)
class ReviewRecord:
    """What a pull request's plan comment showed: the commit planned and what applying it would do."""

    sha: str
    fingerprint: str
    actions: tuple[str, ...] | None  # None: too many to carry; the fingerprint still decides

    @classmethod
    def of(cls, plan: Plan) -> ReviewRecord:
        return cls(plan.target.commit if plan.target and plan.target.commit else "", plan.fingerprint(),
                   plan.action_keys())

    def render(self) -> str:
        data: dict[str, str] = {"sha": self.sha, "fingerprint": self.fingerprint}
        if self.actions is not None:
            packed = base64.b64encode(zlib.compress("\n".join(self.actions).encode(), 9)).decode()
            if len(packed) <= RECORD_LIMIT:
                data["actions"] = packed
        return f"<!-- chariot-apply:review {json.dumps(data, separators=(',', ':'))} -->"

    @classmethod
    def read(cls, body: str) -> ReviewRecord | None:
        found = RECORD.search(body)
        if found is None:
            return None
        try:
            data = json.loads(found["json"])
            packed = data.get("actions")
            actions = tuple(filter(None, zlib.decompress(base64.b64decode(packed)).decode().split("\n"))) \
                if packed else None
            return cls(str(data["sha"]), str(data["fingerprint"]), actions)
        except (ValueError, KeyError, zlib.error, TypeError):
            return None


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
