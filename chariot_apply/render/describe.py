"""Words and symbols for plan items, shared by the text and markdown renderers."""

from __future__ import annotations

import json
from typing import Any, assert_never

from chariot_apply.plan.model import (
    Blocked,
    BlockedReplace,
    Conflict,
    Create,
    Delete,
    DeleteCheckpoints,
    Difference,
    Failed,
    Invalid,
    Item,
    NoOp,
    Promote,
    PruneCandidate,
    Replace,
    RunRequest,
    Stop,
    Violation,
    Waiting,
    is_lifecycle,
)


def code_suffix(code: str) -> str:
    """`` [CA2002]`` after a problem (``chariot-apply explain CA2002``); nothing for one from a plan saved before
    codes."""
    return f" [{code}]" if code else ""


def subject(item: Item) -> str:
    """What a change touches, said as what it is: a run, a model made from a run, a run's checkpoints."""
    match item:
        case Promote():
            return f"model \"{item.model_name}@{item.model_version}\" <- checkpoint step {item.global_step} of run " \
                   f"\"{item.address}\""
        case DeleteCheckpoints():
            steps = ", ".join(map(str, item.steps[:8])) + (" ..." if len(item.steps) > 8 else "")
            return f"{len(item.checkpoint_ids)} checkpoint(s) of run \"{item.address}\" (steps {steps})"
        case _:
            return f"run \"{item.address}\""


def headline(item: Item) -> str:
    """``vision/a@1 will be created``."""
    match item:
        case Create():
            return f"{item.address} will be created" + (f" ({item.reason})" if item.rule else "")
        case Stop():
            return f"{item.address} will be stopped ({item.reason})"
        case Delete():
            return f"{item.address} will be deleted ({item.reason})"
        case Replace():
            return f"{item.address} will be replaced: deleted, then created again"
        case NoOp():
            return f"{item.address}: no change ({item.reason})"
        case Conflict():
            return f"{item.address}: conflict: {item.reason}"
        case BlockedReplace():
            return f"{item.address}: must be replaced to match, but replacing is not allowed"
        case Invalid():
            return f"{item.address}: invalid: {item.reason}"
        case PruneCandidate():
            return f"{item.address}: not declared: deleted with --prune ({item.reason})"
        case Failed():
            return f"{item.address}: failed: {item.reason}"
        case Promote():
            return (f"{item.address}: checkpoint at step {item.global_step} will be promoted to model "
                    f"{item.model_name}@{item.model_version}" + (f" ({item.reason})" if item.reason else ""))
        case DeleteCheckpoints():
            return f"{item.address}: {len(item.checkpoint_ids)} checkpoint(s) will be deleted ({item.reason})"
        case Waiting():
            return f"{item.address}: will be created later: {item.reason}"
        case Violation():
            return f"{item.address}: breaks the policy: {item.reason}"
        case Blocked():
            return f"{item.address}: {item.action} not made: {item.reason}"
        case _:
            assert_never(item)


def rule_lines(item: Item) -> list[str]:
    """The reviewed rule a lifecycle action carries out, said under it."""
    if isinstance(item, Create | Stop | Replace | Promote | DeleteCheckpoints) and is_lifecycle(item):
        return [f"rule: {item.rule}"]
    return []


def value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def difference_line(d: Difference) -> str:
    if not d.in_live:
        return f"+ {d.path}: {value(d.declared)}"
    if not d.in_manifest:
        return f"- {d.path}: {value(d.live)}   (no longer in the manifest)"
    return f"~ {d.path}: {value(d.live)} -> {value(d.declared)}"


def request_lines(item: Create | Replace, request: RunRequest) -> list[str]:
    res = request.resources
    lines = [f"blueprint = {item.blueprint.name} {item.blueprint.pattern or '(latest)'} -> "
             f"{item.blueprint.version or 'version unknown'} ({item.blueprint.id})",
             f"taskType  = {request.task_type}",
             f"resources = cpu {res.cpu}, memory {res.memory}"
             + (f", ephemeral storage {res.ephemeral_storage}" if res.ephemeral_storage else "")
             + (f", gpu {res.gpu.count}x {res.gpu.type}" if res.gpu else "")]
    lines += [f"config.{k} = {value(v)}" for k, v in sorted(request.config.items())]
    return lines


def details(item: Item) -> list[str]:
    """The indented lines under an item's headline."""
    lines: list[str] = rule_lines(item)
    if isinstance(item, Create):
        lines += [f"+ {line}" for line in request_lines(item, item.run)]
        lines += [f"  (attempt {i + 1}: run {a.id}, {a.status}; kept)" for i, a in enumerate(item.attempts)]
    if isinstance(item, Replace | BlockedReplace):
        lines += [difference_line(d) for d in item.differences]
    if isinstance(item, Replace):
        lines.append(f"  (run {item.live.id}, {item.live.status}: {item.reason})")
    if isinstance(item, BlockedReplace):
        lines.append(f"hint: {item.reason}")
    if isinstance(item, Invalid | Violation):
        lines += [f"{p.location}: {p.path}: {p.message}{code_suffix(p.code)}" for p in item.problems]
    if isinstance(item, Violation):
        lines.append(f"rule: {item.rule} ({item.rule_location})")
    if isinstance(item, Blocked):
        lines += ([f"rule: {item.rule}"] if item.rule else []) + ([f"fix: {item.fix}"] if item.fix else [])
    lines += promotion_lines(item)
    if isinstance(item, Stop | Delete | Conflict | PruneCandidate | Failed):
        lines.append(f"run {item.live.id} ({item.live.status})")
    lines += [f"note: {n}" for n in item.notices]
    return lines


def diff_lines(item: Item) -> list[str]:
    """The item as ``+``/``-`` lines, for markdown ``diff`` blocks (which colour only those)."""
    if isinstance(item, Create):
        return [f"  {line}" for line in rule_lines(item)] + [f"+ {line}" for line in request_lines(item, item.run)]
    if isinstance(item, Replace | BlockedReplace):
        lines = []
        for d in item.differences:
            if d.in_live:
                lines.append(f"- {d.path}: {value(d.live)}")
            if d.in_manifest:
                lines.append(f"+ {d.path}: {value(d.declared)}")
        return lines
    if isinstance(item, Delete):
        return [f"- run {item.live.id} ({item.live.status})"]
    if isinstance(item, Stop | Conflict | PruneCandidate | Failed):
        return [f"  {line}" for line in rule_lines(item)] + [f"  run {item.live.id} ({item.live.status})"]
    if isinstance(item, Blocked):
        return ([f"! rule: {item.rule}"] if item.rule else []) + ([f"! fix: {item.fix}"] if item.fix else [])
    if isinstance(item, Invalid | Violation):
        rule = [f"! rule: {item.rule} ({item.rule_location})"] if isinstance(item, Violation) else []
        return [f"! {p.location}: {p.path}: {p.message}{code_suffix(p.code)}" for p in item.problems] + rule
    return [f"  {line}" for line in rule_lines(item)] + promotion_lines(item)


def promotion_lines(item: Item) -> list[str]:
    """What a promote makes, and which checkpoints a retention policy deletes."""
    if isinstance(item, Promote):
        return [f"+ model {item.model_name}@{item.model_version} (project {item.model_project_id}) <- checkpoint "
                f"{item.checkpoint_id} (step {item.global_step}) of run {item.live.id}"]
    if isinstance(item, DeleteCheckpoints):
        return [f"- checkpoint {cid} (step {step})" for cid, step in zip(item.checkpoint_ids, item.steps,
                                                                          strict=True)]
    return []


def remarks(item: Item) -> list[str]:
    """What to read beside the lines: how to proceed, and notices."""
    out = [item.reason] if isinstance(item, BlockedReplace | Invalid) and item.reason else []
    return out + list(item.notices)


def outcome_line(address: str, kind: str, ok: bool, detail: str, run_id: str | None) -> str:
    """``vision/a@1: create: ok: created [run id]`` for progress logs."""
    return f"{address}: {kind}: {'ok' if ok else 'FAILED'}: {detail}" + (f" [{run_id}]" if run_id else "")
