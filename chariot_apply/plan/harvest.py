"""What a run's checkpoints are for: models declared in ``spec.promote``, and ``spec.checkpoints.keep``. Pure.

A model carries our marker at the end of its summary (``[chariot-apply owner=X run=ID]``): a second plan finds
it and does nothing; a model of that name and version without it, or from another run, is a conflict, never a
second model. A checkpoint a model was made from is never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from chariot_apply.chariot.models import FINISHED_STATUSES, Checkpoint, Model, Run
from chariot_apply.diagnostics import codes
from chariot_apply.manifest.model import CheckpointChoice, DeclaredRun, Keep, ModelTarget, Promotion
from chariot_apply.plan.champion import judge
from chariot_apply.plan.model import (
    Blocked,
    Conflict,
    DeleteCheckpoints,
    Invalid,
    Item,
    LiveRun,
    Problem,
    Promote,
)

MODEL_MARKER = re.compile(r"\[chariot-apply owner=(?P<owner>[A-Za-z0-9._-]+) run=(?P<run>[A-Za-z0-9-]+)\]\s*\Z")


@dataclass(frozen=True)
class Harvest:
    """A live run's checkpoints (every status) and the metric values at their steps."""

    checkpoints: tuple[Checkpoint, ...] = ()
    metrics: Mapping[tuple[int, str], float | int | None] = field(default_factory=dict)

    def complete(self) -> list[Checkpoint]:
        return sorted((c for c in self.checkpoints if c.status == "complete" and c.id and c.global_step is not None),
                      key=lambda c: (c.global_step or 0, c.id or ""))

    def value(self, checkpoint: Checkpoint, tag: str) -> float | int | None:
        return self.metrics.get((checkpoint.global_step or 0, tag))


def model_summary(summary: str, owner: str, run_id: str) -> str:
    marker = f"[chariot-apply owner={owner} run={run_id}]"
    return f"{summary.rstrip()}\n\n{marker}" if summary.strip() else marker


def harvest_items(run: DeclaredRun, addr: str, live: Run, ref: LiveRun, project_ids: Mapping[str, str],
                  project_id: str, harvest: Harvest, models: Sequence[Model], owner: str,
                  pending: Collection[tuple[str, str, str]] = (),
                  champions: Mapping[tuple[str, str], float | None] | None = None) -> tuple[list[Item], list[str]]:
    """(items, notices) for the promotions and the retention policy of one declared run's live run."""
    items: list[Item] = []
    notices: list[str] = []
    for i, promotion in enumerate(run.spec.promote):
        found = _promotion(run, addr, live, ref, i, promotion, project_ids, project_id, harvest, models, owner,
                           pending)
        if isinstance(found, Promote):
            found = gated(found, promotion, harvest, champions or {})
        if isinstance(found, str):
            notices.append(found)
        elif found is not None:
            items.append(found)
    chosen_now = {i.checkpoint_id for i in items if isinstance(i, Promote)}
    if run.spec.checkpoints is not None:
        retention, spared = _retention(run, addr, live, ref, project_id, project_ids, harvest, models, owner,
                                       chosen_now)
        items += retention
        notices += spared
    return items, notices


def _promotion(run: DeclaredRun, addr: str, live: Run, ref: LiveRun, index: int, promotion: Promotion,
               project_ids: Mapping[str, str], project_id: str, harvest: Harvest, models: Sequence[Model],
               owner: str, pending: Collection[tuple[str, str, str]]) -> Item | str | None:
    """One of the run's own promotions: its item, what it waits for (a notice), or None (made already)."""
    target = promotion.model
    where = f"spec.promote[{index}]"
    found = model_target(target, project_id, project_ids, models, owner, {live.id}, pending)
    if found.project_id is None:
        problem = Problem(location=str(run.where(where)), path=f"{where}.model.project",
                          code=codes.PROJECT_NOT_FOUND, message=f"project {target.project!r} does not exist")
        return Invalid(address=addr, reason="check spec.promote[].model.project", sensitive=run.spec.sensitive,
                       problems=(problem,))
    if found.made:
        return None
    if found.taken is not None:
        return Conflict(address=addr, live=ref, sensitive=run.spec.sensitive,
                        reason=taken_words(found.taken, "this run"),
                        notices=("bump spec.promote[].model.version, or remove the promotion",))
    if found.pending:
        return f"promote {target.name}@{target.version}: {PENDING_WORDS}"
    if promotion.when == "finished" and live.status not in FINISHED_STATUSES:
        step = f", step {live.progress[0].value} of {live.progress[0].final_value}" if live.progress else ""
        return (f"promote {target.name}@{target.version}: waiting for the run to finish ({live.status}{step}; "
                "when: available promotes as soon as a checkpoint is complete)")
    checkpoint, waiting = choose(harvest, promotion.checkpoint)
    if checkpoint is None:
        return f"promote {target.name}@{target.version}: waiting for {waiting}"
    return Promote(address=addr, live=ref, checkpoint_id=checkpoint.id or "", global_step=checkpoint.global_step or 0,
                   model_name=target.name, model_version=target.version, model_project_id=found.project_id,
                   summary=model_summary(target.summary, owner, live.id or ""), sensitive=run.spec.sensitive,
                   reason=f"{promotion.checkpoint.select} checkpoint of the run")


def _retention(run: DeclaredRun, addr: str, live: Run, ref: LiveRun, project_id: str,
               project_ids: Mapping[str, str], harvest: Harvest, models: Sequence[Model], owner: str,
               chosen_now: set[str]) -> tuple[list[Item], list[str]]:
    """``spec.checkpoints.keep``: the checkpoints it deletes, never one a model was made from, one this plan
    promotes, or one a promotion may still choose (said in a notice)."""
    policy = run.spec.checkpoints
    assert policy is not None
    kept = keep(harvest, policy.keep)
    candidates = still_choosable(run, live, harvest, models, owner, project_id, project_ids)
    protected = {m.checkpoint_id for m in models if m.checkpoint_id} | chosen_now | set(candidates)
    doomed = [c for c in harvest.complete() if c.id not in kept and c.id not in protected]
    spared = [f"step {step:,} ({why})" for cid, (step, why) in candidates.items()
              if cid not in kept and cid not in chosen_now]
    notices = ["spec.checkpoints.keep spares " + "; ".join(spared) + ": a promotion may still choose it"] \
        if spared else []
    if not doomed:
        return [], notices
    read = {m.project_id for m in models if m.project_id} | {project_id}
    return [DeleteCheckpoints(address=addr, live=ref, checkpoint_ids=tuple(c.id or "" for c in doomed),
                              steps=tuple(c.global_step or 0 for c in doomed), model_projects=tuple(sorted(read)),
                              sensitive=run.spec.sensitive, reason="spec.checkpoints.keep does not keep them")], notices


def gated(made: Promote, promotion: Promotion, harvest: Harvest,
          champions: Mapping[tuple[str, str], float | None]) -> Promote | Blocked:
    """A promotion through its ``require``: the promote with both numbers said, or a Blocked that promotes
    nothing and says why (``champion.judge``)."""
    required = promotion.required()
    if required is None:
        return made
    value = harvest.metrics.get((made.global_step, required[0]))
    verdict = judge(promotion, float(value) if value is not None else None, champions)
    if verdict is None:
        return made
    target = f"{promotion.model.name}@{promotion.model.version}"
    if verdict.ok:
        return made.model_copy(update={"reason": f"{made.reason} ({verdict.words})"})
    return Blocked(address=made.address, action="promote", sensitive=made.sensitive,
                   rule=f"promote {target}: require", reason=f"promote {target} blocked: {verdict.words}",
                   fix="nothing is promoted; a better checkpoint (a later step, another run) is judged again by "
                       "the next plan")


def still_choosable(run: DeclaredRun, live: Run, harvest: Harvest, models: Sequence[Model], owner: str,
                    project_id: str, project_ids: Mapping[str, str]) -> dict[str, tuple[int, str]]:
    """The checkpoints a declared promotion not made yet may still choose (its own, and its sweep's, of which this
    run may be the winner), by id, with their step and why: the best so far by its metric, the step it names, the
    last. Retention never deletes them (issue 38: `keep: {last: 1}` deleted the best a `promote best` needed)."""
    found: dict[str, tuple[int, str]] = {}
    origin = run.manifest.metadata.sweep
    # Its own promotions are made from this run; its sweep's once, from whichever point wins (None: any run).
    made_from: list[tuple[Promotion, Collection[str | None] | None]] = [(p, {live.id}) for p in run.spec.promote]
    made_from += [(p, None) for p in (origin.promote if origin is not None else ())]
    for promotion, run_ids in made_from:
        target = promotion.model
        if model_target(target, project_id, project_ids, models, owner, run_ids).made:
            continue
        checkpoint, _ = choose(harvest, promotion.checkpoint)
        if checkpoint is not None and checkpoint.id:
            choice = promotion.checkpoint
            why = f"the best so far by {choice.metric} ({choice.mode})" if choice.select == "best" else \
                f"the {choice.select} checkpoint"
            found[checkpoint.id] = (checkpoint.global_step or 0, f"{why} for {target.name}@{target.version}")
    return found


#: Why a promotion whose create's answer was lost is not sent again yet.
PENDING_WORDS = ("waiting: an earlier apply's create of it may still commit (its answer was lost); it is not sent "
                 "again until it appears or 10 minutes have passed")


@dataclass(frozen=True)
class Target:
    """Where a declared model goes and what is there already: a run's promotion and a sweep's share it."""

    project_id: str | None  # None: the project it names does not exist
    made: bool = False  # a model of ours made from one of the runs is there: nothing more to do
    taken: Model | None = None  # a model of that name and version made otherwise: never a second one
    pending: bool = False  # an earlier create of it may still commit


def model_target(target: ModelTarget, project_id: str, project_ids: Mapping[str, str], models: Sequence[Model],
                 owner: str, run_ids: Collection[str | None] | None,
                 pending: Collection[tuple[str, str, str]] = ()) -> Target:
    """What ``target`` meets, for a promotion from one of ``run_ids`` (None: from any run of ours; its project by
    default ``project_id``)."""
    target_project = project_ids.get(target.project) if target.project else project_id
    if target_project is None:
        return Target(None)
    existing = [m for m in models if m.project_id == target_project and m.name == target.name
                and m.version == target.version]
    if any(_ours(m.summary, owner, None) if run_ids is None else
           any(_marked(m.summary, owner, run_id) for run_id in run_ids) for m in existing):
        return Target(target_project, made=True)
    if existing:
        return Target(target_project, taken=existing[0])
    return Target(target_project, pending=(target_project, target.name, target.version) in pending)


def taken_words(model: Model, made_from: str) -> str:
    return (f"model {model.name}@{model.version} already exists ({model.id}, from checkpoint {model.checkpoint_id}) "
            f"and was not made by chariot-apply from {made_from}: no second model is made")


def model_made_from(summary: str | None, owner: str, run_id: str | None) -> bool:
    """Whether a model's summary carries our marker for the run ``run_id``."""
    return _marked(summary, owner, run_id)


def _ours(summary: str | None, owner: str, run_id: str | None) -> bool:
    """Made by chariot-apply for ``owner`` from ``run_id`` (None: from any run)."""
    found = MODEL_MARKER.search(summary or "")
    return found is not None and found["owner"] == owner and (run_id is None or found["run"] == run_id)


def _marked(summary: str | None, owner: str, run_id: str | None) -> bool:
    return run_id is not None and _ours(summary, owner, run_id)


def choose(harvest: Harvest, choice: CheckpointChoice) -> tuple[Checkpoint | None, str]:
    """The checkpoint ``choice`` selects among the complete ones, or what it is waiting for."""
    complete = harvest.complete()
    match choice.select:
        case "last":
            return (complete[-1], "") if complete else (None, "a complete checkpoint")
        case "step":
            found = [c for c in complete if c.global_step == choice.step]
            return (found[0], "") if found else (None, f"a complete checkpoint at step {choice.step}")
        case "best":
            tag = choice.metric or ""
            scored = [(v, c) for c in complete if (v := harvest.value(c, tag)) is not None]
            if not scored:
                return None, f"a complete checkpoint with a value of {tag}"
            best = (min if choice.mode == "min" else max)(scored, key=lambda vc: (vc[0], vc[1].global_step or 0))
            return best[1], ""


def keep(harvest: Harvest, policy: Keep) -> set[str | None]:
    complete = harvest.complete()
    kept: set[str | None] = set()
    if policy.last:
        kept |= {c.id for c in complete[-policy.last:]}
    if policy.best is not None:
        tag, reverse = policy.best.metric, policy.best.mode == "max"
        scored = sorted(((v, c) for c in complete if (v := harvest.value(c, tag)) is not None),
                        key=lambda vc: vc[0], reverse=reverse)
        kept |= {c.id for _, c in scored[:policy.best.count]}
    return kept
