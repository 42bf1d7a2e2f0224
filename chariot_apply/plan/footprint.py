"""What a plan costs in GPUs, and how risky applying it is. Pure: worked out from the plan's items and the live
runs the plan fetched, never a request of its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from chariot_apply.chariot.models import Gpu
from chariot_apply.manifest.duration import format_duration, parse_duration_text
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.policy import PolicyRules
from chariot_apply.plan.costs import ActionFootprint, Footprint, Risk
from chariot_apply.plan.live import LiveState, RunIdentity
from chariot_apply.plan.model import Create, Delete, Item, LiveRun, Replace, Stop, Waiting, phase_of


def max_hours(run: DeclaredRun | None) -> float | None:
    """The run's time bound in hours (``spec.limits.maxDuration``), if it declares one."""
    limits = run.spec.limits if run is not None else None
    if limits is None or limits.max_duration is None:
        return None
    return parse_duration_text(limits.max_duration) / 3600


def _project_of(address: str) -> str:
    return address.partition("/")[0]


def _added(item: Item, declared: Mapping[str, DeclaredRun]) -> ActionFootprint | None:
    """What ``item`` asks for or frees, if it is a change (or a create that waits)."""
    match item:
        case Create() | Replace():
            res = item.run.resources
            freed = item.live.gpu if isinstance(item, Replace) and item.live.phase == "active" else None
            return _asking(item.address, item.kind, res.gpu, res.cpu, res.memory, declared.get(item.address), freed)
        case Waiting() if not item.queued:
            run = declared.get(item.address)
            spec = run.spec.resources if run is not None else None
            gpu = Gpu(count=spec.gpu.count, type=spec.gpu.type) if spec is not None and spec.gpu else None
            return _asking(item.address, item.kind, gpu, spec.cpu if spec else "", spec.memory if spec else "", run,
                           None)
        case Stop() | Delete():
            gpu = item.live.gpu if item.live.phase == "active" else None
            return ActionFootprint(address=item.address, kind=item.kind, gpus=-gpu.count if gpu else 0,
                                   gpu_type=gpu.type if gpu else None)
        case _:
            return None


def _asking(address: str, kind: str, gpu: Gpu | None, cpu: str, memory: str, run: DeclaredRun | None,
            freed: Gpu | None) -> ActionFootprint:
    """A change that asks for ``gpu`` (less what its replaced run ``freed`` of the same type), bounded in hours by
    the run's maxDuration where it declares one."""
    hours = max_hours(run)
    count = (gpu.count if gpu else 0) - (freed.count if freed and gpu and freed.type == gpu.type else 0)
    return ActionFootprint(address=address, kind=kind, gpus=count, gpu_type=gpu.type if gpu else None, cpu=cpu,
                           memory=memory, gpu_hours=gpu.count * hours if gpu and hours is not None else None,
                           bounded=gpu is None or hours is not None)


def in_use(runs: Iterable[RunIdentity], owned: Iterable[bool],
           project_names: Mapping[str, str]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """The GPUs our active runs (running or waiting for GPUs) hold, by type, and by project."""
    total: Counter[str] = Counter()
    by_project: dict[str, Counter[str]] = {}
    for run, ours in zip(runs, owned, strict=True):
        gpu = run.resources.gpu if ours and run.resources is not None else None
        if gpu is None or phase_of(run.status) != "active":
            continue
        total[gpu.type] += gpu.count
        project = project_names.get(run.project_id or "", run.project_id or "")
        by_project.setdefault(project, Counter())[gpu.type] += gpu.count
    return total, by_project


def footprint(items: Sequence[Item], live: LiveState, declared: Mapping[str, DeclaredRun],
              owned: Sequence[bool], prices: Mapping[str, float], currency: str | None = None) -> Footprint:
    """``owned``: for each of ``live.runs`` then ``live.elsewhere``, whether it is ours."""
    now, now_by_project = in_use([*live.runs, *live.elsewhere], owned, live.project_names)
    actions = [a for item in items if (a := _added(item, declared)) is not None]
    change, after_by_project = _gpu_change(items, actions, now_by_project)
    after = now + change
    hours = sum(a.gpu_hours or 0.0 for a in actions if a.gpus > 0)
    unbounded = tuple(sorted({a.address for a in actions if not a.bounded and a.gpus > 0}))
    cost, unpriced = _cost(actions, prices)
    return Footprint(actions=tuple(actions), change={t: n for t, n in sorted(change.items()) if n},
                     in_use=dict(sorted(now.items())), after=_positive(after),
                     after_by_project={p: _positive(c) for p, c in sorted(after_by_project.items())
                                       if any(v > 0 for v in c.values())},
                     gpu_hours=round(hours, 3), unbounded=unbounded, cost=round(cost, 2) if cost is not None else None,
                     unpriced=unpriced, currency=currency)


def _gpu_change(items: Sequence[Item], actions: Sequence[ActionFootprint],
                now_by_project: Mapping[str, Counter[str]]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """The change in GPUs held at once, by type, and what each project holds after the apply."""
    change: Counter[str] = Counter()
    after_by_project = {p: Counter(c) for p, c in now_by_project.items()}
    for action in actions:
        if action.gpu_type and action.gpus:
            change[action.gpu_type] += action.gpus
            after_by_project.setdefault(_project_of(action.address), Counter())[action.gpu_type] += action.gpus
    # A replace that changes GPU type frees the old type too.
    for item in items:
        if isinstance(item, Replace) and item.live.phase == "active" and item.live.gpu is not None and (
                item.run.resources.gpu is None or item.run.resources.gpu.type != item.live.gpu.type):
            change[item.live.gpu.type] -= item.live.gpu.count
            after_by_project.setdefault(_project_of(item.address), Counter())[item.live.gpu.type] -= \
                item.live.gpu.count
    return change, after_by_project


def _cost(actions: Sequence[ActionFootprint], prices: Mapping[str, float]) -> tuple[float | None, tuple[str, ...]]:
    """The GPU-hours added of the priced types, at the project file's prices (None: no price list, or nothing
    added), and the types added that have no price (said, never silently dropped)."""
    added_types = {a.gpu_type for a in actions if a.gpus > 0 and a.gpu_type}
    if not prices or not added_types:
        return None, ()
    unpriced = tuple(sorted(t for t in added_types if t not in prices))
    if len(unpriced) == len(added_types):
        return None, unpriced
    return sum((a.gpu_hours or 0.0) * prices[a.gpu_type or ""] for a in actions
               if a.gpus > 0 and a.gpu_type in prices), unpriced


def _positive(counts: Counter[str]) -> dict[str, int]:
    return {t: n for t, n in sorted(counts.items()) if n > 0}


def assess(items: Sequence[Item], fp: Footprint, now: datetime | None, rules: PolicyRules,
           protected: Mapping[str, bool]) -> Risk:
    """``high`` with its reasons: a delete, replace or prune of a run that trained longer than the rules allow
    (1 h by default), a protected run touched, more GPUs added than ``highRiskGpus``; else ``low``."""
    reasons: list[str] = []
    for item in items:
        if isinstance(item, Delete | Replace) and (age := _age(item.live, now)) is not None \
                and age > rules.high_risk_trained_seconds:
            what = "prune" if isinstance(item, Delete) and item.prune else item.kind
            reasons.append(f"{what} of {item.address}, a run that has trained for {format_duration(age)}")
        if isinstance(item, Stop | Delete | Replace) and protected.get(item.address):
            reasons.append(f"{item.kind} of {item.address}, a protected run")
    added = sum(n for n in fp.change.values() if n > 0)
    if added > rules.high_risk_gpus:
        reasons.append(f"it adds {added} GPUs (more than {rules.high_risk_gpus})")
    return Risk(level="high" if reasons else "low", reasons=tuple(reasons))


def _age(live: LiveRun, now: datetime | None) -> float | None:
    if now is None or live.created_at is None:
        return None
    return (now - live.created_at).total_seconds()
