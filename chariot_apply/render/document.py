"""The JSON plan document as text: redacted when shown, whole when saved to apply later."""

from __future__ import annotations

from chariot_apply.plan.document import PlanDocument
from chariot_apply.plan.model import Plan
from chariot_apply.render.redact import redact_plan


def plan_document(plan: Plan, *, redact: bool = True) -> PlanDocument:
    """Shown documents are redacted; a plan saved to apply later keeps the values it will send."""
    return PlanDocument.of(redact_plan(plan) if redact else plan, redacted=redact)


def render_json(plan: Plan, *, redact: bool = True) -> str:
    return plan_document(plan, redact=redact).model_dump_json(indent=2)
