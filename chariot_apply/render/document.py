"""The JSON plan document (``schemas/plan.schema.json``): for ``--format json`` and saved plans alike."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chariot_apply import __version__
from chariot_apply.plan.model import PLAN_FORMAT_VERSION, Plan
from chariot_apply.render.redact import redact_plan


class PlanDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", title="chariot-apply plan")

    format_version: Literal[1] = PLAN_FORMAT_VERSION
    tool_version: str = __version__
    summary: str
    counts: dict[str, int]
    has_changes: bool
    redacted: bool
    plan: Plan


def plan_document(plan: Plan, *, redact: bool = True) -> PlanDocument:
    """Shown documents are redacted; a plan saved to apply later keeps the values it will send."""
    return PlanDocument(summary=plan.summary(), counts=plan.counts(), has_changes=plan.has_changes,
                        redacted=redact, plan=redact_plan(plan) if redact else plan)


def render_json(plan: Plan, *, redact: bool = True) -> str:
    return plan_document(plan, redact=redact).model_dump_json(indent=2)


def plan_json_schema() -> dict[str, Any]:
    schema = PlanDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://chariot-apply.dev/schemas/plan.schema.json", **schema}
