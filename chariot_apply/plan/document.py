"""The plan file format (``schemas/plan.schema.json``): what ``--format json`` prints and ``plan --out`` saves, read
back by ``apply PLAN_FILE`` and the Action. It lives with the plan it carries (as Terraform's planfile does)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chariot_apply import __version__
from chariot_apply.plan.model import LIFECYCLE_KEY, PLAN_FORMAT_VERSION, Plan


class PlanDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", title="chariot-apply plan")

    format_version: Literal[1] = PLAN_FORMAT_VERSION
    tool_version: str = __version__
    summary: str
    counts: dict[str, int]
    has_changes: bool
    redacted: bool  # a redacted plan was shown to someone; only an unredacted one can be applied
    plan: Plan
    #: The declared changes (what a review approves) and the lifecycle actions (what reviewed rules call for now),
    #: each as ``address kind spec live-run`` keys; and the fingerprint a review records (declared changes only).
    declared: tuple[str, ...] = ()
    lifecycle: tuple[str, ...] = ()
    fingerprint: str = ""

    @classmethod
    def of(cls, plan: Plan, *, redacted: bool) -> PlanDocument:
        """``plan`` as a document: ``redacted`` says whether ``plan`` is already the redacted form."""
        keys = plan.action_keys()
        return cls(summary=plan.summary(), counts=plan.counts(), has_changes=plan.has_changes, redacted=redacted,
                   plan=plan, declared=plan.declared_keys(),
                   lifecycle=tuple(k for k in keys if LIFECYCLE_KEY in k), fingerprint=plan.fingerprint())


def plan_json_schema() -> dict[str, Any]:
    schema = PlanDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://chariot-apply.dev/schemas/plan.schema.json", **schema}
