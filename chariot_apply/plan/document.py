"""The plan file format (``schemas/plan.schema.json``): what ``--format json`` prints and ``plan --out`` saves, read
back by ``apply PLAN_FILE`` and the Action. It lives with the plan it carries (as Terraform's planfile does)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from chariot_apply import __version__
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError, plain_message
from chariot_apply.plan.model import LIFECYCLE_KEY, PLAN_FORMAT_VERSION, Plan
from chariot_apply.plan.redact import redact_plan


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


def plan_document(plan: Plan, *, redact: bool = True) -> PlanDocument:
    """Shown documents are redacted; a plan saved to apply later keeps the values it will send."""
    return PlanDocument.of(redact_plan(plan) if redact else plan, redacted=redact)


def plan_json(plan: Plan, *, redact: bool = True) -> str:
    """The plan document as text: redacted when shown (``--format json``), whole when saved to apply later."""
    return plan_document(plan, redact=redact).model_dump_json(indent=2)


def save_plan(plan_: Plan, out: Path) -> None:
    """The unredacted plan (it must send exactly these values), private from its first byte: created 0600,
    never made so afterwards."""
    text = plan_json(plan_, redact=False).encode()
    out.unlink(missing_ok=True)  # an existing file would keep its mode
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(text)


def read_plan(path: Path) -> PlanDocument:
    """A plan document (saved, or from ``--format json``), or a clear refusal of anything else."""
    try:
        return PlanDocument.model_validate_json(path.read_bytes())
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise UserError(f"{path} is not a chariot-apply plan ({where + ': ' if where else ''}{plain_message(first)})",
                        hint=f"make one with {hints.PLAN_OUT.cited()} or `--format json`",
                        code=codes.PLAN_FILE) from None


def load_saved_plan(path: Path) -> Plan:
    """A plan saved by ``plan --out``; a manifest or directory given in its place is told to go to ``-f``."""
    use_f = f"to apply manifests, pass them with -f: chariot-apply apply -f {path}"
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a saved plan", hint=use_f, code=codes.PLAN_FILE)
    if not path.is_file():
        raise UserError(f"no saved plan at {path}", hint=f"make one with {hints.PLAN_OUT.cited()}",
                        code=codes.PLAN_FILE)
    if path.suffix.lower() in (".yaml", ".yml"):
        raise UserError(f"{path} is a manifest, not a saved plan", hint=use_f, code=codes.PLAN_FILE)
    document = read_plan(path)
    if document.redacted:
        raise UserError(f"{path} is a redacted plan (from --format json): it cannot be applied",
                        hint=f"save plans to apply with {hints.PLAN_OUT.cited()}", code=codes.PLAN_FILE)
    return document.plan


