"""What ``reconcile`` did, as text and as JSON (for cron logs and workflows). Pure."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from chariot_apply.apply.executor import ApplyResult
from chariot_apply.diagnostics import hints
from chariot_apply.plan.model import ATTENTION_KINDS, Plan
from chariot_apply.plan.redact import redact_plan
from chariot_apply.render.describe import details, headline, outcome_line


class ReconcileOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    kind: str
    ok: bool
    detail: str
    run_id: str | None = None


class ReconcileDocument(BaseModel):
    """``reconcile --format json``: the lifecycle actions carried out, what waits, and the declared drift left."""

    model_config = ConfigDict(frozen=True, title="chariot-apply reconcile")

    busy: bool  # another reconcile held the workspace: nothing was done
    summary: str
    done: tuple[ReconcileOutcome, ...]
    waiting: tuple[ReconcileOutcome, ...]
    drift: tuple[str, ...]  # declared changes (address kind spec run) not applied: `apply` does, after review
    needs_attention: int
    attention: tuple[ReconcileOutcome, ...]  # what needs attention, each with its located problems
    #: What the rules call for and may not be done now (a protected run's stop at its limit, a create that waits
    #: on a failed upstream): warnings, each with its reason and fix; they fail nothing.
    blocked: tuple[ReconcileOutcome, ...] = ()
    ok: bool


def reconcile_document(plan: Plan, result: ApplyResult, busy: bool) -> ReconcileDocument:
    done = tuple(ReconcileOutcome(address=o.address, kind=o.kind, ok=o.ok, detail=o.detail, run_id=o.run_id)
                 for o in result.outcomes)
    waiting = tuple(ReconcileOutcome(address=w.address, kind=w.kind, ok=True, detail=w.reason) for w in plan.waiting)
    drift = plan.declared_keys()
    shown = redact_plan(plan)  # a problem may quote a config value: never a secret one
    attention = tuple(ReconcileOutcome(address=i.address, kind=i.kind, ok=False,
                                       detail="; ".join([headline(i), *details(i)]))
                      for i in shown.items if i.kind in ATTENTION_KINDS
                      and i.kind not in ("prune-candidate", "blocked"))
    blocked = tuple(ReconcileOutcome(address=i.address, kind=i.kind, ok=True,
                                     detail="; ".join([headline(i), *details(i)])) for i in shown.blocked)
    return ReconcileDocument(busy=busy, summary=plan.summary() if not busy else "another writer held the writers' lock",
                             done=done, waiting=waiting, drift=drift, needs_attention=plan.needs_attention,
                             attention=attention, blocked=blocked, ok=result.ok and not plan.needs_attention)


def render_reconcile_text(document: ReconcileDocument) -> str:
    if document.busy:
        return ("Another writer (an apply or a reconcile) to this Chariot as this owner holds the writers' lock: "
                "nothing was done (the next reconcile carries on).\n")
    lines = [document.summary]
    lines += [f"  {outcome_line(o.address, o.kind, o.ok, o.detail, o.run_id)}" for o in document.done]
    if not document.done:
        lines.append("No lifecycle action was due.")
    lines += [f"  waiting: {w.address}: {w.detail}" for w in document.waiting]
    lines += [f"  needs attention: {a.detail}" for a in document.attention]
    lines += [f"  blocked (a warning): {b.detail}" for b in document.blocked]
    if document.drift:
        lines.append(f"Declared drift (not applied by reconcile; {hints.APPLY.cited()} after review): "
                     f"{len(document.drift)} change(s)")
        lines += [f"  {key}" for key in document.drift[:50]]
    return "\n".join(lines) + "\n"
