"""A sweep's own ``spec.promote``: the best checkpoint of all its points, made into one model version. Pure.

Promoting from the template would make one model version per point (refused: a version is made once); the
sweep's promotion waits until every point has finished (``when: finished``, the default: the winner of a sweep
still training is not the winner), ranks the complete checkpoints of the points that finished well by the
metric, and promotes the best one from the run that made it. Like a run's promotion it is a lifecycle action:
derived afresh each time, never part of what a reviewer fingerprints, made once (the model carries our marker
with the winner's run id, which a later plan finds among the points' runs).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from chariot_apply.chariot.models import Checkpoint, Run
from chariot_apply.diagnostics import codes
from chariot_apply.manifest.model import DeclaredRun, Promotion
from chariot_apply.plan.harvest import (
    PENDING_WORDS,
    Harvest,
    choose,
    gated,
    model_summary,
    model_target,
    taken_words,
)
from chariot_apply.plan.lifecycle import USABLE_ENDS
from chariot_apply.plan.live import LiveState, RunKey
from chariot_apply.plan.model import (
    DeleteCheckpoints,
    Failed,
    Invalid,
    Item,
    LiveRun,
    NoOp,
    Problem,
    Promote,
    Replace,
    Stop,
)

SweepKey = tuple[str, str, str]  # (project id, sweep name, version)
Placed = tuple[str, DeclaredRun]  # (address, declared run)


@dataclass(frozen=True)
class _Point:
    address: str
    run: DeclaredRun
    live: LiveRun | None  # its current run, where it has one
    stopped_early: bool = False  # by the sweep's spec.earlyStop: it never wins


@dataclass(frozen=True)
class _Candidate:
    value: float
    point: _Point
    checkpoint: Checkpoint


def sweep_points(declared_at: Mapping[RunKey, Placed]) -> dict[SweepKey, list[tuple[RunKey, str, DeclaredRun]]]:
    """The declared points of each sweep that declares a promotion, by address."""
    sweeps: dict[SweepKey, list[tuple[RunKey, str, DeclaredRun]]] = {}
    for key, (addr, run) in declared_at.items():
        origin = run.manifest.metadata.sweep
        if origin is not None and origin.promote and run.spec.state == "running":  # a stopped sweep: like a run
            sweeps.setdefault((key[0], origin.name, key[2]), []).append((key, addr, run))
    return {key: sorted(points, key=lambda p: p[1]) for key, points in sweeps.items()}


def sweep_promotions(items: Sequence[Item], declared_at: Mapping[RunKey, Placed],
                     by_address: Mapping[RunKey, Sequence[Run]], live: LiveState, owner: str,
                     stopped_early: Collection[str] = ()) -> list[Item]:
    """``items`` with each sweep's promotions added (or what they wait for, as a notice on its first point), and
    the chosen checkpoints taken out of the same plan's checkpoint deletions. One pass over ``items``."""
    sweeps = sweep_points(declared_at)
    if not sweeps:
        return list(items)
    result = list(items)
    first_item: dict[str, int] = {}
    current: dict[str, LiveRun] = {}
    for j, item in enumerate(result):
        first_item.setdefault(item.address, j)
        if isinstance(item, NoOp | Failed | Stop | Replace) and item.live is not None:
            current.setdefault(item.address, item.live)
    for (project_id, name, _), points in sorted(sweeps.items()):
        if any(addr not in first_item for _, addr, _ in points):
            continue  # --target left some points out: the winner of a part is not the winner
        run_ids = {r.id for key, _, _ in points for r in by_address.get(key, ())}
        swept = [_Point(addr, run, current.get(addr), addr in stopped_early) for _, addr, run in points]
        first = swept[0]
        origin = first.run.manifest.metadata.sweep
        assert origin is not None
        for i, promotion in enumerate(origin.promote):
            outcome = _promote(name, i, promotion, swept, project_id, run_ids, live, owner)
            if isinstance(outcome, str):  # said once, on the first point's first item
                at = first_item[first.address]
                result[at] = result[at].model_copy(update={"notices": (*result[at].notices, outcome)})
            elif isinstance(outcome, Promote):
                _keep_chosen(result, outcome)
                result.append(outcome)
            elif outcome is not None:
                result.append(outcome)
    return [item for item in result if not (isinstance(item, DeleteCheckpoints) and not item.checkpoint_ids)]


def _promote(sweep: str, index: int, promotion: Promotion, points: Sequence[_Point], project_id: str,
             run_ids: set[str | None], live: LiveState, owner: str) -> Item | str | None:
    """The promotion's item (a Promote, or an Invalid), what it waits for (a notice), or None: made already."""
    target = promotion.model
    label = f"sweep {sweep}: promote {target.name}@{target.version}"
    where = f"metadata.sweep.promote[{index}]"
    first = points[0]
    if live.models is None:
        return _invalid(first, where, "this backend cannot list models, so it cannot tell whether the sweep's "
                        "winner was promoted already", "promotions need --backend rest", code=codes.BACKEND_CANNOT)
    found = model_target(target, project_id, live.project_ids, live.models, owner, run_ids, live.pending_models)
    if found.project_id is None:
        return _invalid(first, f"{where}.model.project", f"project {target.project!r} does not exist",
                        "check the sweep's spec.promote[].model.project", code=codes.PROJECT_NOT_FOUND)
    if found.made:
        return None
    if found.taken is not None:
        return _invalid(first, where, taken_words(found.taken, "this sweep"),
                        "bump the sweep's spec.promote[].model.version, or remove the promotion",
                        code=codes.PROMOTION_INVALID)
    if found.pending:
        return f"{label}: {PENDING_WORDS}"
    target_project = found.project_id
    finished = [p for p in points if p.live is not None and p.live.phase == "finished"]
    if promotion.when == "finished" and len(finished) < len(points):
        return f"{label}: waiting for every point to finish ({len(finished)} of {len(points)} finished)"
    pool = [p for p in points if p.live is not None and not p.stopped_early
            and (p.live.status in USABLE_ENDS or (promotion.when == "available" and p.live.phase == "active"))]
    best = _best(pool, promotion, live.harvest)
    metric = promotion.checkpoint.metric or ""
    if best is None:
        return f"{label}: waiting for a complete checkpoint with a value of {metric} in a point that finished well"
    assert best.point.live is not None
    made = Promote(address=best.point.address, live=best.point.live, checkpoint_id=best.checkpoint.id or "",
                   global_step=best.checkpoint.global_step or 0, model_name=target.name,
                   model_version=target.version, model_project_id=target_project,
                   summary=model_summary(target.summary, owner, best.point.live.id),
                   sensitive=best.point.run.spec.sensitive,
                   rule=f"sweep {sweep}: spec.promote best by {metric} ({promotion.checkpoint.mode}) of "
                        f"{len(points)} points",
                   reason=f"the best checkpoint of the {len(pool)} of its {len(points)} points that finished well: "
                          f"{metric} {best.value:g} at step {best.checkpoint.global_step or 0:,}")
    return gated(made, promotion, live.harvest.get(best.point.live.id, Harvest()), live.champions)


def _best(pool: Sequence[_Point], promotion: Promotion, harvest: Mapping[str, Harvest]) -> _Candidate | None:
    """Each point's best checkpoint by the metric, then the best of those (ties: the first point by address)."""
    candidates: list[_Candidate] = []
    for point in pool:
        assert point.live is not None
        found = harvest.get(point.live.id, Harvest())
        checkpoint, _ = choose(found, promotion.checkpoint)
        value = found.value(checkpoint, promotion.checkpoint.metric or "") if checkpoint is not None else None
        if checkpoint is not None and value is not None:
            candidates.append(_Candidate(float(value), point, checkpoint))
    if not candidates:
        return None
    sign = -1.0 if promotion.checkpoint.mode == "max" else 1.0
    return min(candidates, key=lambda c: (sign * c.value, c.point.address))


def _keep_chosen(items: list[Item], promote: Promote) -> None:
    """The same plan never deletes the checkpoint it promotes (a retention by another metric would): taken out of
    its run's deletions in place (a deletion left with none is dropped at the end)."""
    for j, item in enumerate(items):
        if isinstance(item, DeleteCheckpoints) and item.address == promote.address \
                and promote.checkpoint_id in item.checkpoint_ids:
            pairs = [(c, s) for c, s in zip(item.checkpoint_ids, item.steps, strict=True) if c != promote.checkpoint_id]
            items[j] = item.model_copy(update={"checkpoint_ids": tuple(c for c, _ in pairs),
                                               "steps": tuple(s for _, s in pairs)})


def _invalid(point: _Point, path: str, message: str, hint: str, *, code: str) -> Invalid:
    return Invalid(address=point.address, reason=hint, sensitive=point.run.spec.sensitive,
                   problems=(Problem(location=str(point.run.where(path)), path=path, message=message, code=code),))

