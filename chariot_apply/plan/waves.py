"""A sweep in waves (``spec.maxConcurrent``): at most that many of its points are active at once; the others wait
in the sweep's point order, and each is created as an earlier one finishes. The first wave is the declared change a
pull request reviews; the points after it are lifecycle creates (the reviewed rule calls for them as runs finish),
which ``reconcile`` makes. The footprint and the budgets see only what is created now: the peak. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from chariot_apply.chariot.models import Resources, Run
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.live import RunKey
from chariot_apply.plan.model import Create, Item, Waiting, phase_of


@dataclass(frozen=True)
class _Width:
    points: int | None  # spec.maxConcurrent
    gpus: int | None  # spec.maxConcurrentGpus, or what the budget leaves (``clamped``)
    clamped: str = ""  # the budget that narrowed it, said

    def words(self) -> str:
        said = [f"{self.points} point(s)" if self.points else "", f"{self.gpus} GPU(s)" if self.gpus is not None
                else ""]
        return " and ".join(w for w in said if w)

    def rule(self) -> str:
        said = [f"maxConcurrent {self.points}" if self.points else "",
                f"maxConcurrentGpus {self.gpus}" if self.gpus is not None and not self.clamped else "",
                f"clampToBudget: {self.clamped}" if self.clamped else ""]
        return ", ".join(w for w in said if w)


def _clamped(width: _Width, gpu_type: str | None, budget: Mapping[str, tuple[int, int]], held: int) -> _Width:
    """``width`` narrowed to what the team's GPU budget leaves for the sweep: its limit, less what the owner's
    other active runs hold (``budget``: type or "*" -> (limit, in use)); ``held``: the sweep's own active GPUs."""
    found = budget.get(gpu_type or "") or budget.get("*")
    if found is None or gpu_type is None:
        return width
    limit, used = found
    left = max(0, limit - used + held)
    if width.gpus is not None and width.gpus <= left:
        return width
    return _Width(width.points, left, f"policy.maxConcurrentGpus {gpu_type if gpu_type in budget else '*'} {limit}, "
                                      f"{used - held} in use elsewhere")


def in_waves(items: list[Item], declared_at: Mapping[RunKey, tuple[str, DeclaredRun]],
             by_address: Mapping[RunKey, list[Run]], owned: Callable[[Run], bool],
             budget: Mapping[str, tuple[int, int]] | None = None) -> list[Item]:
    """``items`` with each sweep's creates beyond its room turned into queued waits, and the creates of a sweep
    that has started marked as its rule's (lifecycle)."""
    sweeps: dict[tuple[str, str], tuple[_Width, list[tuple[RunKey, str]]]] = {}
    for key, (addr, run) in declared_at.items():  # the manifests' order: the sweep's stable point order
        origin = run.manifest.metadata.sweep
        if origin is not None and (origin.max_concurrent is not None or origin.max_concurrent_gpus is not None
                                   or origin.clamp_to_budget):
            width = _Width(origin.max_concurrent, origin.max_concurrent_gpus)
            if origin.clamp_to_budget:
                width = replace(width, clamped="?")  # narrowed below, once the sweep's own GPUs are known
            sweeps.setdefault((key[0], origin.name), (width, []))[1].append((key, addr))
    if not sweeps:
        return items
    creates = {i.address: i for i in items if isinstance(i, Create)}
    changed: dict[str, Item] = {}
    for (_, name), (width, points) in sweeps.items():
        if width.clamped:
            gpu = declared_at[points[0][0]][1].spec.resources.gpu
            held = sum(_gpus(r.resources) for key, _ in points for r in by_address.get(key, [])
                       if owned(r) and phase_of(r.status) == "active")
            width = _clamped(replace(width, clamped=""), gpu.type if gpu else None, budget or {}, held)
        changed |= _wave(name, width, points, creates, by_address, owned)
    return [changed.get(i.address, i) if isinstance(i, Create) else i for i in items]


def _gpus(resources: Resources | None) -> int:
    return resources.gpu.count or 0 if resources is not None and resources.gpu is not None else 0


def _fits(asks: int, gpu_room: int | None, width: _Width, *, alone: bool) -> bool:
    """Whether a point asking for ``asks`` GPUs fits what is left; one asking for more than the whole width runs
    alone, once nothing else of the sweep does (never past a budget it was clamped to)."""
    if gpu_room is None or asks <= gpu_room:
        return True
    return alone and gpu_room == width.gpus and not width.clamped


def _wave(name: str, width: _Width, points: Sequence[tuple[RunKey, str]], creates: Mapping[str, Create],
          by_address: Mapping[RunKey, list[Run]], owned: Callable[[Run], bool]) -> dict[str, Item]:
    ours = [r for key, _ in points for r in by_address.get(key, []) if owned(r)]
    active = [r for r in ours if phase_of(r.status) == "active"]
    room = width.points - len(active) if width.points else len(points)
    gpu_room = width.gpus - sum(_gpus(r.resources) for r in active) if width.gpus is not None else None
    rule = f"sweep {name}: spec.{width.rule()}, the next point as an earlier one finishes"
    out: dict[str, Item] = {}
    ahead = 0
    for addr in (a for _, a in points if a in creates):
        create = creates[addr]
        asks = _gpus(create.run.resources)
        if not ahead and room > 0 and _fits(asks, gpu_room, width, alone=not active):
            room -= 1
            if gpu_room is not None:
                gpu_room -= asks
            if ours and not create.rule:  # the wave after the first: the reviewed rule calls for it now
                out[addr] = create.model_copy(update={"rule": rule})
            continue
        out[addr] = Waiting(address=addr, upstreams=(), spec_hash=create.run.spec_hash, sensitive=create.sensitive,
                            queued=True,
                            reason=f"queued: sweep {name} runs at most {width.words()} at once "
                                   f"(spec.{width.rule()}){f'; {ahead} ahead of it' if ahead else ''}; created as "
                                   "an earlier point finishes")
        ahead += 1
    return out
