"""The composite action's inputs, read from the runner's environment (``CHARIOT_APPLY_*``, ``CHARIOT_URL``), or a
clear refusal of any that make no sense."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from chariot_apply.backends.rest.settings import without_credentials
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.github.comments import (
    workflow_path,
)
from chariot_apply.manifest.duration import parse_duration_text
from chariot_apply.workspace import project as project

EMBEDDED = "embedded"
Command = Literal["plan", "apply", "drift", "reconcile", "report", "review"]
Policy = Literal["fail", "apply"]


class ActionInputError(UserError):
    code = codes.ACTION_INPUT
    hint = "fix the action's inputs in the workflow file"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    raise ActionInputError(f"{name} must be 'true' or 'false', not {value!r}")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip() or default
    if value not in allowed:
        raise ActionInputError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _duration(env: Mapping[str, str], name: str, default: str) -> float:
    value = env.get(name, "").strip() or default
    try:
        return parse_duration_text(value)
    except ValueError as exc:
        raise ActionInputError(f"{name}: {exc}") from None


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: What ``approvals-for`` may name: a protected run's stop, delete or replace; a plan of high risk.
APPROVABLE = ("protected", "high-risk")


@dataclass(frozen=True)
class ActionInputs:
    command: Command
    manifests: tuple[str, ...]
    chariot_url: str  # a URL, or "embedded"
    prune: bool
    allow_replace: bool
    targets: tuple[str, ...]
    excludes: tuple[str, ...]
    comment: bool
    labels: bool
    environment: str  # names the PR comment: one per environment
    on_diverged: Policy
    on_unreviewed: Policy
    plan_workflow: str | None = None  # the workflow file whose plan comments are trusted; None: this one
    allow_apply_on_pull_request: bool = False
    report: bool = False  # after reconcile: the results comments too
    writer_wait: float = 1800.0  # how long an apply waits for another writer's turn (seconds)
    approvals_for: frozenset[str] = frozenset(APPROVABLE)  # what needs an approving review, not just a label

    @property
    def embedded(self) -> bool:
        return self.chariot_url == EMBEDDED

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        command = _choice(env, "CHARIOT_APPLY_COMMAND", ("plan", "apply", "drift", "reconcile", "report", "review"),
                          "plan")
        url = env.get("CHARIOT_URL", "").strip()
        if not url:
            raise ActionInputError(
                "the chariot-url input is empty: chariot-apply will not guess which Chariot to use",
                hint="set chariot-url to your Chariot's URL (e.g. ${{ vars.CHARIOT_URL }}, defined where every job "
                     "can read it, such as the environment both jobs use), or to `embedded` to try the action "
                     "on the embedded emulator")
        if url != EMBEDDED and not url.startswith(("http://", "https://")):
            raise ActionInputError(f"chariot-url must be an http(s) URL or `embedded`, not "
                                   f"{without_credentials(url)!r}")
        host = EMBEDDED if url == EMBEDDED else (urlsplit(url).hostname or url)
        plan_workflow = env.get("CHARIOT_APPLY_PLAN_WORKFLOW", "").strip()
        if plan_workflow and workflow_path(plan_workflow) is None:
            raise ActionInputError(f"plan-workflow must name a workflow file (.github/workflows/NAME.yml), not "
                                   f"{plan_workflow!r}")
        return cls(command=command,  # type: ignore[arg-type]
                   manifests=_words(env.get("CHARIOT_APPLY_MANIFESTS", "")), chariot_url=url,
                   prune=_flag(env, "CHARIOT_APPLY_PRUNE", False),
                   allow_replace=_flag(env, "CHARIOT_APPLY_ALLOW_REPLACE", False),
                   targets=_words(env.get("CHARIOT_APPLY_TARGET", "")),
                   excludes=_words(env.get("CHARIOT_APPLY_EXCLUDE", "")),
                   comment=_flag(env, "CHARIOT_APPLY_COMMENT", True), labels=_flag(env, "CHARIOT_APPLY_LABELS", False),
                   environment=env.get("CHARIOT_APPLY_ENVIRONMENT", "").strip() or host,
                   on_diverged=_choice(env, "CHARIOT_APPLY_ON_DIVERGED", ("fail", "apply"), "fail"),  # type: ignore[arg-type]
                   on_unreviewed=_choice(env, "CHARIOT_APPLY_ON_UNREVIEWED", ("fail", "apply"), "fail"),  # type: ignore[arg-type]
                   plan_workflow=workflow_path(plan_workflow),
                   allow_apply_on_pull_request=_flag(env, "CHARIOT_APPLY_ALLOW_APPLY_ON_PULL_REQUEST", False),
                   report=_flag(env, "CHARIOT_APPLY_REPORT", False),
                   writer_wait=_duration(env, "CHARIOT_APPLY_WRITER_WAIT", "30m"),
                   approvals_for=_approvals(env.get("CHARIOT_APPLY_APPROVALS_FOR", "protected,high-risk")))


def _approvals(text: str) -> frozenset[str]:
    words = {w for w in re.split(r"[\s,]+", text.strip()) if w}
    if words <= {"none"}:
        return frozenset()
    unknown = sorted(words - set(APPROVABLE))
    if unknown:
        raise ActionInputError(f"approvals-for names {', '.join(unknown)}: it takes "
                               f"{', '.join(APPROVABLE)} (comma-separated), or none")
    return frozenset(words)
