"""The plan as GitHub-flavoured markdown, for pull requests and step summaries. Pure."""

from __future__ import annotations

from typing import assert_never

from chariot_apply.plan.model import ATTENTION_KINDS, CHANGE_KINDS, Item, ItemKind, Plan
from chariot_apply.plan.redact import redact_plan
from chariot_apply.render.describe import diff_lines, headline, remarks


def icon(kind: ItemKind) -> str:
    """The label of each kind (exhaustive: a new kind must choose one)."""
    match kind:
        case "create":
            return "🟢 create"
        case "delete":
            return "🔴 delete"
        case "replace":
            return "🟣 replace"
        case "stop":
            return "🟡 stop"
        case "conflict":
            return "⛔ conflict"
        case "invalid":
            return "❌ invalid"
        case "violation":
            return "🚫 policy"
        case "blocked-replace":
            return "⚠️ blocked replace"
        case "prune-candidate":
            return "🔍 not declared"
        case "failed":
            return "💥 failed"
        case "blocked":
            return "✋ blocked"
        case "promote":
            return "🟢 promote"
        case "delete-checkpoints":
            return "🔴 delete checkpoints"
        case "waiting":
            return "⏳ waiting"
        case "no-op":
            return "no change"
        case _:
            assert_never(kind)


def summary_markdown(plan: Plan, title: str = "chariot-apply plan") -> str:
    """Title, counts and warnings: the part that is never cut."""
    counts = plan.counts()
    embedded = plan.target is not None and plan.target.embedded
    lines = [f"### {title}{EMBEDDED_TITLE if embedded else ''}", "", _target_line(plan), "", f"**{plan.summary()}**",
             "", *footprint_table(plan)]
    destructive = [f"{counts[k]} to {k}" for k in ("delete", "replace") if counts[k]]
    if destructive:
        lines += ["> [!WARNING]", f"> This plan is destructive: {', '.join(destructive)}. "
                  "Deleted and replaced runs lose their checkpoints and metrics.", ""]
    if plan.needs_attention:
        lines += ["> [!CAUTION]", f"> {plan.needs_attention} declared run(s) need attention ({counts['invalid']} "
                  f"invalid, {counts['conflict']} in conflict, {counts['blocked-replace']} blocked replace): "
                  "applying will fail on them until they are fixed.", ""]
    lines += [f"> [!NOTE]\n> {w}\n" for w in plan.warnings]
    if plan.lifecycle_actions or plan.waiting:
        lines += ["Lifecycle actions (what the reviewed manifests' rules call for as runs train; they never make "
                  "a merge diverge, and are applied afresh on merge and by `reconcile`):", ""]
        lines += [f"- {icon(i.kind)} `{i.address}`: {_escape(_rule(i))}" for i in
                  sorted([*plan.lifecycle_actions, *plan.waiting], key=lambda i: i.address)[:MAX_LIFECYCLE_LINES]]
        more = len(plan.lifecycle_actions) + len(plan.waiting) - MAX_LIFECYCLE_LINES
        lines += [f"- and {more} more", ""] if more > 0 else [""]
    if not plan.has_changes and not plan.waiting and not any(counts[k] for k in ATTENTION_KINDS):
        lines.append("No changes: Chariot matches the manifests.")
    return "\n".join(lines).rstrip() + "\n"


def footprint_table(plan: Plan) -> list[str]:
    """A compact table of what the plan adds in GPUs and GPU-hours, and the risk, at the top of the comment."""
    fp = plan.footprint
    lines: list[str] = []
    if fp.change or fp.in_use:
        hours = "no bound" if fp.unbounded else f"≤ {fp.gpu_hours:,.4g}"
        money = fp.money()
        lines += ["| GPUs | change | after the apply |", "|---|---:|---:|"]
        for gpu_type in sorted({*fp.change, *fp.after}):
            lines.append(f"| {gpu_type} | {fp.change.get(gpu_type, 0):+d} | {fp.after.get(gpu_type, 0)} |")
        lines += ["", f"GPU-hours added: **{hours}**{money}" + (
            f" ({len(fp.unbounded)} run(s) without `spec.limits.maxDuration`)" if fp.unbounded else ""), ""]
    if plan.risk.level == "high":
        lines += ["> [!CAUTION]", "> **High risk**: " + _escape("; ".join(plan.risk.reasons)), ""]
    return lines


#: The summary's lifecycle list stops here (the details follow).
MAX_LIFECYCLE_LINES = 20


def _rule(item: Item) -> str:
    rule = getattr(item, "rule", "")
    return f"{item.reason} ({rule})" if rule and rule not in item.reason else item.reason


EMBEDDED_TITLE = " on the EMBEDDED EMULATOR (nothing reaches a real Chariot)"


def _target_line(plan: Plan) -> str:
    target = plan.target
    if target is None:
        return f"Owner `{plan.options.owner}`"
    parts = ["Embedded emulator" if target.embedded else f"Chariot `{target.server}`", f"backend `{target.backend}`",
             f"owner `{plan.options.owner}`"]
    if target.commit:
        parts.append(f"commit `{target.commit[:12]}`")
    if target.planned_at:
        parts.append(f"planned {target.planned_at.strftime('%Y-%m-%d %H:%M UTC')}")
    return " · ".join(parts)


def detail_blocks(plan: Plan) -> list[str]:
    """One collapsed block per item that matters, in plan order."""
    plan = redact_plan(plan)
    blocks = []
    for item in plan.items:
        if item.kind not in CHANGE_KINDS and item.kind not in ATTENTION_KINDS and item.kind != "waiting" \
                and not item.notices:
            continue
        body = "\n".join(diff_lines(item)).replace("```", "'''")
        code = f"```diff\n{body}\n```\n" if body else ""
        notes = "".join(f"- {_escape(r)}\n" for r in remarks(item))
        blocks.append(f"<details><summary>{icon(item.kind)} <code>{item.address}</code></summary>\n\n"
                      f"{_escape(headline(item))}\n\n{code}{notes}</details>\n")
    return blocks


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(plan: Plan, *, title: str = "chariot-apply plan", limit: int | None = None,
                    full_plan_at: str = "the job's step summary") -> str:
    """Summary first, then details; over ``limit`` characters the details are cut, never the summary."""
    head = summary_markdown(plan, title)
    blocks = detail_blocks(plan)
    text = head + ("\n" + "".join(blocks) if blocks else "")
    if limit is None or len(text) <= limit:
        return text
    note = f"\n_The details were cut to fit; the full plan is in {full_plan_at}._\n"
    kept, size = [], len(head) + len(note) + 1
    for block in blocks:
        if size + len(block) > limit:
            break
        kept.append(block)
        size += len(block)
    return head + "\n" + "".join(kept) + note
