"""The pure heart of chariot-apply: (declared runs, live state, options) -> Plan. No I/O, no clock.

Each declared run is planned on its own (``_plan_one``: conflicts, duplicates, then its state; a running run in
``plan/running.py``), then what spans runs: the owned runs no manifest declares (prune), a sweep's winner, one model
per version, the GPU footprint, the team's rules and the risk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import assert_never

from chariot_apply.chariot.models import Run, RunSummary
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.policy import ANY_GPU, PolicyRules
from chariot_apply.plan.context import PlanContext, address, invalid, live_ref, suggestion
from chariot_apply.plan.early_stop import early_stops, stopped_early
from chariot_apply.plan.footprint import assess, footprint, in_use
from chariot_apply.plan.lifecycle import failed_attempts
from chariot_apply.plan.live import LiveState, ResolvedBlueprint, RunKey, Validation, runs_by_address
from chariot_apply.plan.model import (
    Blocked,
    Conflict,
    Create,
    Delete,
    Invalid,
    Item,
    NoOp,
    Observed,
    Plan,
    PlanOptions,
    Problem,
    Promote,
    PruneCandidate,
    Replace,
    Stop,
    is_lifecycle,
    traits,
)
from chariot_apply.plan.policy import violations
from chariot_apply.plan.running import plan_running
from chariot_apply.plan.selectors import selected, unmatched_selectors
from chariot_apply.plan.sweep_winner import sweep_promotions
from chariot_apply.plan.upstreams import dependency_cycles
from chariot_apply.plan.waves import in_waves


def build_plan(declared: Sequence[DeclaredRun], live: LiveState, options: PlanOptions,
               validation: Validation | None = None) -> Plan:
    """Everything to do, and everything to see, to make Chariot match ``declared``."""
    by_address = runs_by_address(live.runs)
    declared_at = {(pid, r.name, r.version): (address(live.project_names.get(pid, r.project), r.name, r.version), r)
                   for r in declared if (pid := live.project_ids.get(r.project)) is not None}
    ctx = PlanContext(live, options, validation, by_address, declared_at, dependency_cycles(declared_at, live))
    items: list[Item] = []
    observed: list[Observed] = []
    declared_keys: set[tuple[str, str, str]] = set()
    warnings: list[str] = []
    seen: list[str] = []  # every address the plan could cover, for the selectors that match none
    for run in declared:
        project_id = live.project_ids.get(run.project)
        addr = address(live.project_names.get(project_id or "", run.project), run.name, run.version)
        seen.append(addr)
        if not selected(addr, options):
            continue
        if project_id is None:
            items.append(_no_such_project(live, run, addr))
            continue
        key = (project_id, run.name, run.version)
        declared_keys.add(key)
        # Oldest first: of several runs we own at one address the oldest is kept (it has trained longest).
        at_address = by_address.get(key, [])
        observed.append(Observed(address=addr, project_id=project_id, name=run.name, version=run.version,
                                 runs=tuple(live_ref(r) for r in at_address)))
        items += _unknown_config_keys(ctx, run, addr, _plan_one(ctx, run, addr, project_id, at_address), warnings)
    if options.prune and not declared:
        warnings.append("no manifests were given: refusing to prune (that would delete every run we own)")
    elif declared:
        items += _prune(ctx, declared_keys, runs_by_address([*live.runs, *live.elsewhere]), observed, seen)
    warnings += _newer_blueprints(live)
    warnings += _prices_of_no_gpu(options.prices, live.gpu_types)
    stopped = stopped_early(declared_at, by_address, live, ctx.owned)
    items = _one_model_each(sweep_promotions(items, declared_at, by_address, live, options.owner, set(stopped)),
                            declared_at)
    items = in_waves(items, declared_at, by_address, ctx.owned, _gpu_budget(live, options, ctx))
    items = early_stops(items, stopped)
    items.sort(key=lambda i: (i.address, traits(i.kind).order))  # the footprint's order, whatever the input's
    by_name = {addr: run for addr, run in declared_at.values()}
    owned = [ctx.owned(r) for r in live.runs] + [ctx.owned(r) for r in live.elsewhere]
    if not options.allow_protected:
        items = [_protected_lifecycle(item, by_name) for item in items]
    spent = footprint(items, live, by_name, owned, options.prices, options.currency)
    items += violations(items, spent, by_name, options.policy, options.allow_protected)
    rules = options.policy.rules if options.policy is not None else PolicyRules()
    risk = assess(items, spent, live.now, rules, {addr: run.spec.protect for addr, run in by_name.items()})
    items.sort(key=lambda i: (i.address, traits(i.kind).order))
    return Plan(options=options, items=tuple(items), observed=tuple(sorted(observed, key=lambda o: o.address)),
                warnings=tuple(warnings), unmatched=unmatched_selectors(seen, options), footprint=spent, risk=risk)


def _gpu_budget(live: LiveState, options: PlanOptions, ctx: PlanContext) -> dict[str, tuple[int, int]]:
    """policy.maxConcurrentGpus as (limit, GPUs the owner's active runs hold now), by type ("*": all types): what
    a sweep with ``clampToBudget`` may use."""
    limits = options.policy.rules.max_concurrent_gpus if options.policy is not None else {}
    if not limits:
        return {}
    runs: list[Run | RunSummary] = [*live.runs, *live.elsewhere]
    held, _ = in_use(runs, [ctx.owned(r) for r in runs], live.project_names)
    return {t: (limit, sum(held.values()) if t == ANY_GPU else held.get(t, 0)) for t, limit in limits.items()}


def _protected_lifecycle(item: Item, declared: Mapping[str, DeclaredRun]) -> Item:
    """A lifecycle stop or recreate of a protected run is not made: the run trains on, and the plan says why and
    what to do (a declared stop, delete or replace of it is a violation instead: the review refuses it)."""
    run = declared.get(item.address)
    if not isinstance(item, Stop | Replace) or not is_lifecycle(item) or run is None or not run.spec.protect:
        return item
    where = str(run.where("spec.protect"))
    return Blocked(address=item.address, action=item.kind, rule=item.rule, live=item.live, sensitive=item.sensitive,
                   notices=item.notices, location=where, reason=f"the run is protected (spec.protect at {where}): "
                   f"{item.reason}", fix="it trains on: stop it yourself if it must stop, or lift spec.protect, or "
                   "allow it once (--allow-protected; in the Action, an approving review)")


def _no_such_project(live: LiveState, run: DeclaredRun, addr: str) -> Item:
    where = "metadata.project, or `project` in chariot-apply.yaml"
    hint = f"{suggestion(run.project, live.known_projects)} (see {where})" if live.known_projects else f"check {where}"
    return invalid(addr, run, "metadata.project", f"project {run.project!r} does not exist", hint,
                   code=codes.PROJECT_NOT_FOUND)


def _prices_of_no_gpu(prices: Mapping[str, float], gpu_types: frozenset[str] | None) -> list[str]:
    """A price for a GPU type the cluster does not have is a typo (A1OO): it would price nothing, silently."""
    if gpu_types is None:
        return []
    return [f"prices.{t}: this Chariot has no GPU type {t!r} ({suggestion(t, gpu_types)}): its price is never used"
            for t in sorted(set(prices) - gpu_types)]


def _newer_blueprints(live: LiveState) -> list[str]:
    """A warning for each locked blueprint whose pattern now resolves to a newer one."""
    warnings = []
    for (name, pattern), newer in sorted(live.newer.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        locked = live.blueprints.get((name, pattern))
        was = locked.version if isinstance(locked, ResolvedBlueprint) else "?"
        warnings.append(f"newer blueprint available: {name} {pattern or '(latest)'} now resolves to {newer.version} "
                        f"(locked: {was}); nothing changes until {hints.LOCK_UPGRADE.cited(name=name)}")
    return warnings


def _one_model_each(items: list[Item], declared_at: Mapping[RunKey, tuple[str, DeclaredRun]]) -> list[Item]:
    """A model version can be made once: where several runs of one plan would promote to the same name@version (a
    sweep's template promoting every point), none is made, and each says why at its promotion's line."""
    targets: dict[tuple[str, str, str], list[Promote]] = {}
    for item in items:
        if isinstance(item, Promote):
            targets.setdefault((item.model_project_id, item.model_name, item.model_version), []).append(item)
    twice = {key: found for key, found in targets.items() if len({p.address for p in found}) > 1}
    if not twice:
        return items
    runs = {addr: run for addr, run in declared_at.values()}
    kept: list[Item] = []
    for item in items:
        if not isinstance(item, Promote) or (item.model_project_id, item.model_name, item.model_version) not in twice:
            kept.append(item)
            continue
        key = (item.model_project_id, item.model_name, item.model_version)
        others = sorted({p.address for p in twice[key]} - {item.address})
        run = runs.get(item.address)
        where = str(run.where("spec.promote")) if run is not None else item.address
        kept.append(Invalid(address=item.address, sensitive=item.sensitive, reason=(
            "promote from one run, or give each run's model a version of its own"), problems=(Problem(
                location=where, path="spec.promote", code=codes.PROMOTION_INVALID,
                message=f"model {item.model_name}@{item.model_version} would "
                f"also be made from {', '.join(others[:3])}{' and more' if len(others) > 3 else ''}: a model version "
                "is made once, so none is made"),)))
    return kept


def unknown_config_keys(run: DeclaredRun, live: LiveState,
                        options: PlanOptions) -> tuple[list[str], bool, list[str]]:
    """(the config keys the blueprint's schema does not name, whether they are errors, the keys it does name): a
    typo (``learing_rate``) that a pydantic-made schema, which allows extra keys, lets pass, so the run trains with
    the default."""
    resolved = live.blueprints.get((run.spec.blueprint.name, run.spec.blueprint.version))
    if run.spec.state != "running" or not isinstance(resolved, ResolvedBlueprint):
        return [], False, []
    properties = resolved.config_schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return [], False, []
    unknown = [str(k) for k in run.spec.config if k not in properties]
    strict = bool(unknown) and (options.strict_config or resolved.config_schema.get("additionalProperties") is False)
    return unknown, strict, list(map(str, properties))


def _unknown_config_keys(ctx: PlanContext, run: DeclaredRun, addr: str, planned: list[Item],
                         warnings: list[str]) -> list[Item]:
    """Said at the key's own line with a did-you-mean: a warning, or (``strict_config``, or a schema that forbids
    extra keys) an error, once the server has validated the rest (so that no error hides another)."""
    unknown, strict, names = unknown_config_keys(run, ctx.live, ctx.options)
    if not unknown:
        return planned
    problems = [Problem(location=str(run.where(f"spec.config.{key}")), path=f"spec.config.{key}",
                        code=codes.CONFIG_UNKNOWN_KEY,
                        message=f"unknown config key {key!r} ({did_you_mean(key, names)})") for key in unknown]
    if not strict:
        for p in problems:  # once a place: a sweep's points share their template's line
            line = (f"{p.location}: {p.path}: {p.message}; the blueprint's schema lets it pass, so the run would "
                    "train without it (--strict-config, or strictConfig: true in the project file, makes this an "
                    "error)")
            if line not in warnings:
                warnings.append(line)
        return planned
    if ctx.validation is None:
        return planned  # the draft: the create stays, so that its config is validated for its other problems
    # The server's own words on the same keys ("Additional properties are not allowed") say less: ours replace
    # them; its other problems stay.
    others = [p for item in planned if isinstance(item, Invalid) for p in item.problems
              if not any(repr(key) in p.message for key in unknown)]
    kept = [item for item in planned if not isinstance(item, Invalid | Create | Replace)]
    return [Invalid(address=addr, sensitive=run.spec.sensitive, problems=tuple(problems + others),
                    reason="fix the config keys the blueprint does not know"), *kept]


def _plan_one(ctx: PlanContext, run: DeclaredRun, addr: str, project_id: str, at_address: list[Run]) -> list[Item]:
    """Every item for one declared run: conflicts stop everything; otherwise duplicates, then its state's case."""
    owned = [r for r in at_address if ctx.owned(r)]
    unowned = [r for r in at_address if not ctx.owned(r)]
    if unowned:
        return [_conflict(addr, other, run.spec.sensitive) for other in unowned]
    attempts = failed_attempts(run, owned)  # kept: the attempts onFailure counts, and what a retry resumes from
    alive = [r for r in owned if r not in attempts]
    current = alive[0] if alive else None
    items: list[Item] = [_duplicate(addr, extra, alive[0], run.spec.sensitive) for extra in alive[1:]]
    match run.spec.state:
        case "absent":
            return [*items, _plan_absent(addr, run, current)]
        case "stopped":
            return [*items, _plan_stopped(addr, run, current)]
        case "running":
            return [*items, *plan_running(ctx, run, addr, project_id, current, attempts)]
        case _:
            assert_never(run.spec.state)


def _conflict(addr: str, other: Run, sensitive: Sequence[str]) -> Item:
    ref = live_ref(other)
    whose = f"chariot-apply owner {ref.owner!r}" if ref.owner else "no chariot-apply marker (created elsewhere)"
    return Conflict(address=addr, live=ref, sensitive=tuple(sensitive),
                    reason=f"run {other.id} already exists here with {whose}; it is never touched",
                    notices=(f"adopt it with {hints.ADOPT.cited(address=addr)}, or change metadata.name or "
                             "metadata.version",))


def _duplicate(addr: str, extra: Run, keeper: Run, sensitive: Sequence[str]) -> Item:
    """A second run of ours at a declared address (two applies raced, or one crashed before removing its
    duplicate). The oldest is *the* run, as every apply agrees; the others go, --prune or not."""
    return Delete(address=addr, live=live_ref(extra), sensitive=tuple(sensitive),
                  reason=f"duplicate of run {keeper.id} (two applies created it at once; the oldest is kept)")


def _plan_absent(addr: str, run: DeclaredRun, current: Run | None) -> Item:
    sensitive = run.spec.sensitive
    if current is None:
        return NoOp(address=addr, reason="absent, as declared", sensitive=sensitive)
    return Delete(address=addr, live=live_ref(current), reason="declared absent", sensitive=sensitive)


def _plan_stopped(addr: str, run: DeclaredRun, current: Run | None) -> Item:
    sensitive = run.spec.sensitive
    if current is None:
        return NoOp(address=addr, reason="declared stopped and no such run exists (nothing to stop)",
                    sensitive=sensitive)
    ref = live_ref(current)
    if ref.phase == "active":
        return Stop(address=addr, live=ref, reason=f"declared stopped; it is {current.status}", sensitive=sensitive)
    return NoOp(address=addr, live=ref, reason=f"stopped, as declared ({current.status})", sensitive=sensitive)


def _prune(ctx: PlanContext, declared_keys: set[RunKey], by_address: Mapping[RunKey, list[Run | RunSummary]],
           observed: list[Observed], seen: list[str]) -> list[Item]:
    """Runs we own that no manifest declares: deleted with --prune, and shown (and counted) without it."""
    items: list[Item] = []
    listed = ctx.live.complete_projects | ctx.live.active_projects
    undeclared = [(key, runs, ours) for key, runs in by_address.items()
                  if key[0] in listed and key not in declared_keys
                  and (ours := [r for r in runs if ctx.owned(r)])]
    for (project_id, name, version), runs, ours in sorted(undeclared, key=lambda entry: entry[0]):
        addr = address(ctx.live.project_names.get(project_id, project_id), name, version)
        seen.append(addr)
        if not selected(addr, ctx.options):
            continue
        observed.append(Observed(address=addr, project_id=project_id, name=name, version=version,
                                 runs=tuple(live_ref(r) for r in runs)))
        for run in ours:
            if ctx.options.prune:
                items.append(Delete(address=addr, live=live_ref(run), prune=True,
                                    reason="owned by us and declared by no manifest (--prune)"))
            else:
                items.append(PruneCandidate(address=addr, live=live_ref(run),
                                            reason="owned by us and declared by no manifest; "
                                                   "deleted only with --prune"))
    return items
