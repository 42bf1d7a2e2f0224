"""The plan as a terminal shows it, in the manner of Terraform. Pure: colour is a parameter."""

from __future__ import annotations

from typing import assert_never

from chariot_apply.plan.model import ATTENTION_KINDS, Item, ItemKind, Plan, traits
from chariot_apply.plan.redact import redact_plan
from chariot_apply.render.describe import details, headline, subject


def _colour(kind: ItemKind) -> str | None:
    """ANSI colour of each kind (exhaustive: a new kind must choose one)."""
    match kind:
        case "create" | "promote":
            return "32"
        case "delete" | "conflict" | "invalid" | "failed" | "delete-checkpoints" | "violation":
            return "31"
        case "replace":
            return "35"
        case "stop" | "blocked-replace" | "blocked":
            return "33"
        case "prune-candidate":
            return "36"
        case "no-op" | "waiting":
            return None
        case _:
            assert_never(kind)


def _paint(text: str, kind: ItemKind, color: bool) -> str:
    code = _colour(kind)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def _same_trouble(items: list[Item]) -> list[list[Item]]:
    """Items that need attention for the very same reason at the very same lines (a sweep's points sharing a
    template's mistake), said once with every address; the others one by one, in order."""
    groups: dict[tuple[str, str, tuple[str, ...]], list[Item]] = {}
    for item in items:
        groups.setdefault((item.kind, item.reason, tuple(details(item))), []).append(item)
    return list(groups.values())


def footprint_lines(plan: Plan) -> list[str]:
    """``GPUs: +8 A100, ≤ 96 GPU-hours; after the apply: 8 A100 (vision: 8 A100)`` and the risk, when either
    says something."""
    fp = plan.footprint
    lines = []
    if fp.change or fp.in_use:
        after = ", ".join(f"{n} {t}" for t, n in fp.after.items()) or "none"
        projects = "; ".join(f"{p}: " + ", ".join(f"{n} {t}" for t, n in c.items())
                             for p, c in fp.after_by_project.items())
        lines.append(f"GPUs: {fp.headline()}; after the apply: {after}" + (f" ({projects})" if projects else ""))
        if fp.unbounded:
            shown = ", ".join(fp.unbounded[:5]) + (f" and {len(fp.unbounded) - 5} more" if len(fp.unbounded) > 5
                                                   else "")
            lines.append(f"  no spec.limits.maxDuration (so no bound on their GPU-hours): {shown}")
    if plan.risk.level == "high":
        lines.append("Risk: HIGH: " + "; ".join(plan.risk.reasons))
    return lines


def _changes(items: list[Item], color: bool, compact: bool) -> list[str]:
    out: list[str] = []
    for item in items:
        if not compact:
            out.append(f"  # {headline(item)}")
        out.append("  " + _paint(f"{traits(item.kind).symbol} {subject(item)}", item.kind, color))
        if not compact:
            out += [f"      {line}" for line in details(item)]
            out.append("")
    if compact:
        out.append("")
    return out


def render_text(plan: Plan, *, color: bool = False, verbose: bool = False, compact: bool = False) -> str:
    """The plan; ``compact``: one line per change, no details (a long apply on a terminal)."""
    plan = redact_plan(plan)
    out: list[str] = [f"Plan for {plan.header()}\n"]
    changes: list[Item] = list(plan.declared_changes)
    lifecycle: list[Item] = [*plan.lifecycle_actions, *plan.waiting]
    attention = [i for i in plan.items if i.kind in ATTENTION_KINDS]
    quiet = [i for i in plan.items if i.kind == "no-op"]
    if changes:
        out.append("chariot-apply will perform these actions:\n")
        out += _changes(changes, color, compact)
    elif plan.needs_attention:
        out.append(f"No changes to make, but {plan.needs_attention} declared run(s) need attention.\n")
    elif not lifecycle:
        out.append("No changes. Chariot matches the manifests.\n")
    else:
        out.append("No declared changes.\n")
    if lifecycle:
        out.append("Lifecycle actions (what the reviewed manifests' rules call for as runs train; never a reason "
                   "for a merge to diverge):\n")
        out += _changes(sorted(lifecycle, key=lambda i: i.address), color, compact)
    if attention:
        out.append("Needs attention:\n")
        for group in _same_trouble(attention):
            item = group[0]
            head = headline(item) if len(group) == 1 else (
                f"{len(group)} runs ({', '.join(i.address for i in group[:4])}"
                f"{f' and {len(group) - 4} more' if len(group) > 4 else ''}): " + headline(item).split(": ", 1)[1])
            out.append("  " + _paint(f"{traits(item.kind).symbol} {head}", item.kind, color))
            out += [f"      {line}" for line in details(item)]
        out.append("")
    noticed = [i for i in quiet if i.notices]
    for item in quiet if verbose else noticed:
        out.append(f"  {headline(item)}")
        out += [f"      {line}" for line in details(item)]
    if noticed or (verbose and quiet):
        out.append("")
    out += [f"Warning: {w}" for w in plan.warnings]
    out += footprint_lines(plan)
    out.append(plan.summary())
    return "\n".join(out) + "\n"
