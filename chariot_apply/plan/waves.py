"""A sweep in waves (``spec.maxConcurrent``): at most that many of its points are active at once; the others wait
in the sweep's point order, and each is created as an earlier one finishes. The first wave is the declared change a
pull request reviews; the points after it are lifecycle creates (the reviewed rule calls for them as runs finish),
which ``reconcile`` makes. The footprint and the budgets see only what is created now: the peak. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from chariot_apply.chariot.models import Run
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.live import RunKey
from chariot_apply.plan.model import Create, Item, Waiting, phase_of


def in_waves(items: list[Item], declared_at: Mapping[RunKey, tuple[str, DeclaredRun]],
             by_address: Mapping[RunKey, list[Run]], owned: Callable[[Run], bool]) -> list[Item]:
    """``items`` with each sweep's creates beyond its room turned into queued waits, and the creates of a sweep
    that has started marked as its rule's (lifecycle)."""
    sweeps: dict[tuple[str, str], list[tuple[RunKey, str, int]]] = {}
    for key, (addr, run) in declared_at.items():  # the manifests' order: the sweep's stable point order
        origin = run.manifest.metadata.sweep
        if origin is not None and origin.max_concurrent is not None:
            sweeps.setdefault((key[0], origin.name), []).append((key, addr, origin.max_concurrent))
    if not sweeps:
        return items
    creates = {i.address: i for i in items if isinstance(i, Create)}
    changed: dict[str, Item] = {}
    for (_, name), points in sweeps.items():
        changed |= _wave(name, points, creates, by_address, owned)
    return [changed.get(i.address, i) if isinstance(i, Create) else i for i in items]


def _wave(name: str, points: Sequence[tuple[RunKey, str, int]], creates: Mapping[str, Create],
          by_address: Mapping[RunKey, list[Run]], owned: Callable[[Run], bool]) -> dict[str, Item]:
    width = points[0][2]
    ours = [r for key, _, _ in points for r in by_address.get(key, []) if owned(r)]
    started = bool(ours)
    room = width - sum(1 for r in ours if phase_of(r.status) == "active")
    queued = [addr for _, addr, _ in points if addr in creates]
    rule = f"sweep {name}: spec.maxConcurrent {width}, the next point as an earlier one finishes"
    out: dict[str, Item] = {}
    for position, addr in enumerate(queued):
        create = creates[addr]
        if position < room:
            if started and not create.rule:  # the wave after the first: the reviewed rule calls for it now
                out[addr] = create.model_copy(update={"rule": rule})
            continue
        ahead = position - max(room, 0)
        out[addr] = Waiting(address=addr, upstreams=(), spec_hash=create.run.spec_hash, sensitive=create.sensitive,
                            queued=True,
                            reason=f"queued: sweep {name} runs at most {width} point(s) at once "
                                   f"(spec.maxConcurrent){f'; {ahead} ahead of it' if ahead else ''}; created as "
                                   "an earlier point finishes")
    return out
