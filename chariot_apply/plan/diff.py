"""The pure heart of chariot-apply: (declared runs, live state, options) -> Plan. No I/O, no clock."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, assert_never

from chariot_apply.chariot.ilike import ilike
from chariot_apply.chariot.jsonvalue import is_schema_default, same_json
from chariot_apply.chariot.models import Gpu, Resources, Run, RunSummary
from chariot_apply.chariot.quantity import parse_quantity, same_quantity
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import CheckpointChoice, DeclaredRun, ResourcesSpec
from chariot_apply.manifest.policy import PolicyRules
from chariot_apply.plan.footprint import assess, footprint
from chariot_apply.plan.harvest import Harvest, choose, harvest_items, model_made_from
from chariot_apply.plan.lifecycle import Upstream, failed_attempts, next_retry, past_limit, retry_rule, upstream_state
from chariot_apply.plan.live import (
    LiveState,
    ResolvedBlueprint,
    RunIdentity,
    Validation,
    ValidationKey,
    runs_by_address,
)
from chariot_apply.plan.model import (
    BlockedReplace,
    BlueprintChoice,
    Conflict,
    Create,
    Delete,
    Difference,
    Failed,
    Invalid,
    Item,
    LiveRun,
    NoOp,
    Observed,
    Plan,
    PlanOptions,
    Problem,
    Promote,
    PruneCandidate,
    Replace,
    RunRequest,
    Stop,
    Waiting,
    traits,
)
from chariot_apply.plan.ownership import Marker, compose_notes, is_owned, parse_notes, spec_fingerprint
from chariot_apply.plan.policy import violations
from chariot_apply.plan.references import (
    Reference,
    ReferenceError_,
    as_created,
    cycles,
    dependencies,
    qualified,
    references_in,
    substitute,
)
from chariot_apply.plan.sensitive import scrub, write_only_paths
from chariot_apply.plan.sweep_winner import sweep_promotions
from chariot_apply.runtime.lazyimport import import_without

REPLACE_HINT = ("runs are immutable: bump metadata.version to train a new run beside it, or allow the replace "
                "with --allow-replace (or spec.allowReplace: true)")


def address(project: str, name: str, version: str) -> str:
    return f"{project}/{name}@{version}"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def validation_key(blueprint_id: str, config: Mapping[str, Any]) -> ValidationKey:
    return blueprint_id, canonical_json(config)


def matches(addr: str, selector: str) -> bool:
    """``selector`` is an address glob; without ``@version`` it means every version of that name."""
    return fnmatchcase(addr, selector if "@" in selector else f"{selector}@*")


def selected(addr: str, options: PlanOptions) -> bool:
    if options.targets and not any(matches(addr, t) for t in options.targets):
        return False
    return not any(matches(addr, e) for e in options.excludes)


def unmatched_selectors(addresses: Iterable[str], options: PlanOptions) -> tuple[str, ...]:
    """The --target and --exclude selectors that match none of ``addresses``: a typo, never "no changes"."""
    known = list(addresses)
    return tuple(s for s in (*options.targets, *options.excludes) if not any(matches(a, s) for a in known))


def desired_spec(run: DeclaredRun) -> dict[str, Any]:
    """The parts of a manifest that define a run, normalised (quantities by value), for the spec hash."""
    spec = run.spec
    res = spec.resources
    return {
        "blueprint": {"name": spec.blueprint.name, "version": spec.blueprint.version},
        "taskType": spec.task_type,
        "resources": {
            "cpu": str(parse_quantity(res.cpu).value),
            "memory": str(parse_quantity(res.memory).value),
            "ephemeralStorage": str(parse_quantity(res.ephemeral_storage).value) if res.ephemeral_storage else None,
            "gpu": res.gpu.model_dump() if res.gpu else None,
        },
        "config": spec.config,
    }


def live_ref(run: RunIdentity) -> LiveRun:
    _, marker = parse_notes(run.notes)
    return LiveRun(id=run.id or "", status=run.status, owner=marker.owner if marker else None,
                   blueprint_id=run.blueprint_id, created_at=run.created_at,
                   gpu=run.resources.gpu if run.resources is not None else None)


@dataclass(frozen=True)
class _Context:
    live: LiveState
    options: PlanOptions
    validation: Validation | None
    by_address: Mapping[RunKey, list[Run]] = field(default_factory=dict)
    declared_at: Mapping[RunKey, tuple[str, DeclaredRun]] = field(default_factory=dict)  # (address, run)
    cycles: Mapping[RunKey, list[str]] = field(default_factory=dict)  # the dependency cycle a run is on


def build_plan(declared: Sequence[DeclaredRun], live: LiveState, options: PlanOptions,
               validation: Validation | None = None) -> Plan:
    """Everything to do, and everything to see, to make Chariot match ``declared``."""
    by_address = runs_by_address(live.runs)
    declared_at = {(pid, r.name, r.version): (address(live.project_names.get(pid, r.project), r.name, r.version), r)
                   for r in declared if (pid := live.project_ids.get(r.project)) is not None}
    ctx = _Context(live, options, validation, by_address, declared_at, _dependency_cycles(declared_at, live))
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
            where = "metadata.project, or `project` in chariot-apply.yaml"
            hint = (f"{_did_you_mean(run.project, live.known_projects)} (see {where})" if live.known_projects
                    else f"check {where}")
            items.append(_invalid(addr, run, "metadata.project", f"project {run.project!r} does not exist", hint))
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
    for (name, pattern), newer in sorted(live.newer.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        locked = live.blueprints.get((name, pattern))
        was = locked.version if isinstance(locked, ResolvedBlueprint) else "?"
        warnings.append(f"newer blueprint available: {name} {pattern or '(latest)'} now resolves to {newer.version} "
                        f"(locked: {was}); nothing changes until `chariot-apply lock --upgrade {name}`")
    items = _one_model_each(sweep_promotions(items, declared_at, by_address, live, options.owner), declared_at)
    items.sort(key=lambda i: (i.address, traits(i.kind).order))  # the footprint's order, whatever the input's
    by_name = {addr: run for addr, run in declared_at.values()}
    owned = [_owned(ctx, r) for r in live.runs] + [_owned(ctx, r) for r in live.elsewhere]
    spent = footprint(items, live, by_name, owned, options.prices)
    items += violations(items, spent, by_name, options.policy, options.allow_protected)
    rules = options.policy.rules if options.policy is not None else PolicyRules()
    risk = assess(items, spent, live.now, rules, {addr: run.spec.protect for addr, run in by_name.items()})
    items.sort(key=lambda i: (i.address, traits(i.kind).order))
    return Plan(options=options, items=tuple(items), observed=tuple(sorted(observed, key=lambda o: o.address)),
                warnings=tuple(warnings), unmatched=unmatched_selectors(seen, options), footprint=spent, risk=risk)


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
                location=where, path="spec.promote", message=f"model {item.model_name}@{item.model_version} would "
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


def _unknown_config_keys(ctx: _Context, run: DeclaredRun, addr: str, planned: list[Item],
                         warnings: list[str]) -> list[Item]:
    """Said at the key's own line with a did-you-mean: a warning, or (``strict_config``, or a schema that forbids
    extra keys) an error, once the server has validated the rest (so that no error hides another)."""
    unknown, strict, names = unknown_config_keys(run, ctx.live, ctx.options)
    if not unknown:
        return planned
    problems = [Problem(location=str(run.where(f"spec.config.{key}")), path=f"spec.config.{key}",
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


def _owned(ctx: _Context, run: RunIdentity) -> bool:
    return is_owned(run.notes, run.id, ctx.options.owner, ctx.live.adopted)


def _plan_one(ctx: _Context, run: DeclaredRun, addr: str, project_id: str, at_address: list[Run]) -> list[Item]:
    """Every item for one declared run: conflicts stop everything; otherwise duplicates, then its state's case."""
    owned = [r for r in at_address if _owned(ctx, r)]
    unowned = [r for r in at_address if not _owned(ctx, r)]
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
            return [*items, *_plan_running(ctx, run, addr, project_id, current, attempts)]
        case _:
            assert_never(run.spec.state)


def _conflict(addr: str, other: Run, sensitive: Sequence[str]) -> Item:
    ref = live_ref(other)
    whose = f"chariot-apply owner {ref.owner!r}" if ref.owner else "no chariot-apply marker (created elsewhere)"
    return Conflict(address=addr, live=ref, sensitive=tuple(sensitive),
                    reason=f"run {other.id} already exists here with {whose}; it is never touched",
                    notices=("adopt it with `chariot-apply adopt " + addr + "`, or change "
                             "metadata.name or metadata.version",))


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


def _plan_running(ctx: _Context, run: DeclaredRun, addr: str, project_id: str, current: Run | None,
                  attempts: Sequence[Run]) -> list[Item]:
    spec = run.spec
    resolved = ctx.live.blueprints.get((spec.blueprint.name, spec.blueprint.version))
    if not isinstance(resolved, ResolvedBlueprint):
        return [_invalid(addr, run, "spec.blueprint", resolved or "blueprint was not resolved",
                         "check spec.blueprint.name and the version pattern (SQL ILIKE)")]
    # What the manifest marks, and what the blueprint's schema says is write-only (a pydantic SecretStr).
    sensitive = tuple(dict.fromkeys((*spec.sensitive, *write_only_paths(resolved.config_schema))))
    if (spec.promote or spec.checkpoints) and ctx.live.models is None:
        where = "spec.promote" if spec.promote else "spec.checkpoints"
        return [_invalid(addr, run, where, "this backend cannot list models, so it cannot tell whether a promotion "
                         "was made or which checkpoints a model came from",
                         "promotions and checkpoint retention need --backend rest")]
    task_type = spec.task_type or (resolved.task_types[0] if len(resolved.task_types) == 1 else None)
    if task_type is None and not resolved.described:
        return [_invalid(addr, run, "spec.taskType", "taskType is required: this backend cannot read a blueprint's "
                         "task types", "declare spec.taskType (the SDK has no call for a blueprint's task types)")]
    if task_type is None:
        return [_invalid(addr, run, "spec.taskType",
                         f"taskType is required: blueprint {resolved.name} {resolved.version} offers "
                         f"{list(resolved.task_types) or 'no task types'}", "set spec.taskType")]
    if resolved.task_types and task_type not in resolved.task_types:
        return [_invalid(addr, run, "spec.taskType",
                         f"taskType {task_type!r} is not one of blueprint {resolved.name} {resolved.version}'s: "
                         f"{list(resolved.task_types)}", _did_you_mean(task_type, resolved.task_types))]
    gpu = spec.resources.gpu
    offered = ctx.live.gpu_types
    if gpu is not None and offered is not None and gpu.type not in offered:
        return [_invalid(addr, run, "spec.resources.gpu.type",
                         f"GPU type {gpu.type!r} is not one Chariot offers: {sorted(offered) or 'none'}",
                         _did_you_mean(gpu.type, offered))]
    if spec.on_failure.resume == "lastCheckpoint" and not _takes_start_model(resolved):
        return [_invalid(addr, run, "spec.onFailure.resume",
                         f"blueprint {resolved.name} {resolved.version}'s config has no start_model: a new run "
                         "cannot resume from a checkpoint", "use resume: none, or a blueprint that takes start_model")]
    request = _request(run, project_id, resolved, task_type, ctx.options.owner)
    choice = BlueprintChoice(name=resolved.name, pattern=spec.blueprint.version, id=resolved.id,
                             version=resolved.version)
    if current is None:
        return _validation_problems(ctx, run, addr, request, sensitive) or _plan_create(
            ctx, run, addr, request, choice, attempts, sensitive)
    ref = live_ref(current)
    if current.status == "job_failed":  # onFailure: leave (a recreate keeps it as an attempt: not current)
        return [Failed(address=addr, live=ref, sensitive=sensitive,
                       reason=f"run {current.id} failed and is left as it is; set spec.onFailure: recreate to "
                              "recreate it (at most maxRetries times)")]
    differences, notices = _compare(ctx, run, current, resolved, task_type, request.spec_hash)
    if attempts:
        notices += (f"{len(attempts)} earlier attempt(s) failed and are kept: "
                    + ", ".join(a.id or "?" for a in attempts),)
    limit = past_limit(run, current, ctx.live.now) if ref.phase == "active" else None
    limit_stop = Stop(address=addr, live=ref, rule=limit.rule, reason=limit.reason, sensitive=sensitive) \
        if limit is not None and limit.action == "stop" else None
    if not differences:
        reason = {"active": "up to date", "stopping": f"being stopped ({current.status}); left alone",
                  "finished": f"finished ({current.status}); left alone"}.get(ref.phase, "up to date")
        harvested: list[Item] = []
        if spec.promote or spec.checkpoints:
            harvested, waiting = harvest_items(run, addr, current, ref, ctx.live.project_ids, project_id,
                                               ctx.live.harvest.get(current.id or "", Harvest()),
                                               ctx.live.models or (),  # known here: see the start of this function
                                               ctx.options.owner, ctx.live.pending_models)
            notices += tuple(waiting)
        if limit_stop is not None:
            return [limit_stop.model_copy(update={"notices": notices}), *harvested]
        if limit is not None:
            return [Replace(address=addr, live=ref, blueprint=choice, run=request, differences=(), rule=limit.rule,
                            reason=limit.reason, notices=notices, sensitive=sensitive), *harvested]
        return [NoOp(address=addr, live=ref, reason=reason, notices=notices, sensitive=sensitive), *harvested]
    if not (ctx.options.allow_replace or spec.allow_replace):
        # Validated too: a config the blueprint refuses is said as such, not as a replace that is not allowed.
        blocked: list[Item] = _validation_problems(ctx, run, addr, request, sensitive) or [
            BlockedReplace(address=addr, live=ref, differences=differences, notices=notices, sensitive=sensitive,
                           reason=REPLACE_HINT, run=request)]
        # The run trains on meanwhile, and its limits hold: a stop (never a recreate, which would be the replace).
        return blocked + ([limit_stop] if limit_stop is not None else [])
    return _validation_problems(ctx, run, addr, request, sensitive) or [
        Replace(address=addr, live=ref, blueprint=choice, run=request, differences=differences, notices=notices,
                sensitive=sensitive, reason="the declared run differs from the live one, and replacing is allowed")]


def _takes_start_model(blueprint: ResolvedBlueprint) -> bool:
    """Whether the blueprint's config has a start_model (where its schema names its properties at all)."""
    properties = blueprint.config_schema.get("properties")
    return not isinstance(properties, Mapping) or not properties or "start_model" in properties


def _plan_create(ctx: _Context, run: DeclaredRun, addr: str, request: RunRequest, choice: BlueprintChoice,
                 attempts: Sequence[Run], sensitive: tuple[str, ...]) -> list[Item]:
    """No run of ours is at the address: a create, once what it depends on has finished; a retry (a lifecycle
    create) when every run here failed; or nothing more once the retries are used up."""
    gate = _gate(ctx, run, addr, request)
    if isinstance(gate, list):
        return gate
    resolved, upstreams = gate
    config = substitute(request.config, resolved)
    retry = next_retry(run, attempts, request.spec_hash, dict(ctx.live.harvest))
    kept = tuple(live_ref(a) for a in attempts)
    if retry is None:
        rule = f"created once {', '.join(upstreams)} finished (spec.dependsOn)" if upstreams else ""
        return [Create(address=addr, blueprint=choice, run=request.model_copy(update={"config": config}),
                       sensitive=sensitive, rule=rule, attempts=kept,
                       reason=f"declared; {', '.join(upstreams)} finished" if upstreams else "declared, not present")]
    if retry.exhausted:
        return [Failed(address=addr, live=live_ref(retry.after), sensitive=sensitive,
                       reason=f"run {retry.after.id} failed, the last of {retry.allowed} attempt(s) "
                              f"(spec.onFailure maxRetries {run.spec.on_failure.max_retries}); left as it is")]
    if retry.resume_from is not None:
        config = {**config, "start_model": {"checkpoint_id": retry.resume_from[0]}}
    notices = () if retry.resume_from or run.spec.on_failure.resume == "none" else (
        f"run {retry.after.id} left no complete checkpoint: the new run starts from the beginning",)
    return [Create(address=addr, blueprint=choice, run=request.model_copy(update={"config": config}),
                   sensitive=sensitive, rule=retry_rule(run), attempts=kept, notices=notices,
                   reason=f"run {retry.after.id} failed ({retry.after.status}): {retry.words()}")]


def _dependency_cycles(declared_at: Mapping[RunKey, tuple[str, DeclaredRun]],
                       live: LiveState) -> dict[RunKey, list[str]]:
    edges: dict[str, list[str]] = {}
    keys: dict[str, RunKey] = {}
    for key, (addr, run) in declared_at.items():
        keys[addr] = key
        try:
            found = dependencies(run)
        except ReferenceError_:
            continue  # said where the run is planned
        upstream_keys = [_upstream_key(d.address, run, live) for d in found]
        edges[addr] = [declared_at[k][0] for k in upstream_keys if k is not None and k in declared_at]
    return {keys[a]: loop for a, loop in cycles(edges).items()}


def _upstream_key(written: str, run: DeclaredRun, live: LiveState) -> RunKey | None:
    parts = qualified(written, run.project)
    if parts is None:
        return None
    project_id = live.project_ids.get(parts[0])
    return (project_id, parts[1], parts[2]) if project_id is not None else None


def _gate(ctx: _Context, run: DeclaredRun, addr: str,
          request: RunRequest) -> list[Item] | tuple[dict[str, str], tuple[str, ...]]:
    """What the run's dependencies allow: items to show instead of a create (waiting, or a located error), or
    (each reference resolved to its id, the upstream addresses)."""
    try:
        found = dependencies(run)
    except ReferenceError_ as bad:
        return [_invalid(addr, run, bad.path, str(bad), "see `${run:...}` in docs/lifecycle.md")]
    if not found:
        return {}, ()
    key = (request.project_id, run.name, run.version)
    if key in ctx.cycles:
        return [_invalid(addr, run, found[0].path, "a dependency cycle: " + " -> ".join(ctx.cycles[key]),
                         "a run cannot wait, even through others, for itself: remove one of the dependencies")]
    upstreams: dict[str, Upstream] = {}
    waiting: list[str] = []
    for dep in found:
        up_key = _upstream_key(dep.address, run, ctx.live)
        if up_key is None or up_key not in ctx.declared_at:
            known = [a for a, _ in ctx.declared_at.values()]
            return [_invalid(addr, run, dep.path, f"{dep.address!r} is not a declared run",
                             f"{_did_you_mean(dep.address, known)}; an address is project/name@version, or "
                             "name@version in this run's project")]
        up_addr, up_run = ctx.declared_at[up_key]
        if up_addr in upstreams:
            continue
        owned = [r for r in ctx.by_address.get(up_key, []) if _owned(ctx, r)]
        up_attempts = failed_attempts(up_run, owned)
        alive = [r for r in owned if r not in up_attempts]
        state = upstream_state(up_addr, up_run, alive[0] if alive else None, up_attempts)
        if state.state == "failed":
            return [_invalid(addr, run, dep.path, f"it depends on {state.words}",
                             "nothing that depends on a failed run is created: fix the upstream, or remove the "
                             "dependency")]
        upstreams[up_addr] = state
        if state.state == "waiting":
            waiting.append(state.words)
    if waiting:
        return [Waiting(address=addr, upstreams=tuple(upstreams), spec_hash=request.spec_hash,
                        sensitive=run.spec.sensitive, reason="waiting for " + "; ".join(waiting))]
    resolved: dict[str, str] = {}
    for reference in references_in(run.spec.config):
        up_key = _upstream_key(reference.address, run, ctx.live)
        assert up_key is not None
        state = upstreams[ctx.declared_at[up_key][0]]
        value = _resolve(ctx, reference, ctx.declared_at[up_key][1], state)
        if isinstance(value, Problem):
            return [Invalid(address=addr, sensitive=run.spec.sensitive, problems=(value.model_copy(update={
                "location": str(run.where(reference.path))}),), reason="the reference cannot be resolved")]
        if value is None:
            return [Waiting(address=addr, upstreams=tuple(upstreams), spec_hash=request.spec_hash,
                            sensitive=run.spec.sensitive,
                            reason=f"waiting for the model that {state.words} promotes ({reference.text})")]
        resolved[reference.text] = value
    return resolved, tuple(upstreams)


def _resolve(ctx: _Context, reference: Reference, upstream: DeclaredRun, state: Upstream) -> str | Problem | None:
    """The id a reference names, a problem, or None: not there yet (a promotion made by this very plan)."""
    live = state.live
    assert live is not None
    if reference.what == "model":
        if not upstream.spec.promote:
            return Problem(location="", path=reference.path,
                           message=f"{reference.text}: {state.words} declares no spec.promote, so it makes no model")
        targets = {(p.model.name, p.model.version) for p in upstream.spec.promote}
        made = [m for m in ctx.live.models or () if (m.name, m.version) in targets
                and model_made_from(m.summary, ctx.options.owner, live.id)]
        return made[0].id if made else None
    choice = CheckpointChoice(select="best", metric=reference.metric, mode=reference.mode) \
        if reference.what == "best" else CheckpointChoice(select="last")
    checkpoint, missing = choose(ctx.live.harvest.get(live.id or "", Harvest()), choice)
    if checkpoint is None:
        return Problem(location="", path=reference.path,
                       message=f"{reference.text}: {state.words} has no {missing.removeprefix('a ')}")
    return checkpoint.id or ""


def _request(run: DeclaredRun, project_id: str, blueprint: ResolvedBlueprint, task_type: str,
             owner: str) -> RunRequest:
    res = run.spec.resources
    spec_hash = spec_fingerprint(desired_spec(run))
    return RunRequest(
        name=run.name, version=run.version, project_id=project_id, blueprint_id=blueprint.id, task_type=task_type,
        resources=Resources(cpu=res.cpu, memory=res.memory, ephemeral_storage=res.ephemeral_storage,
                            gpu=Gpu(count=res.gpu.count, type=res.gpu.type) if res.gpu else None),
        config=dict(run.spec.config), notes=compose_notes(run.spec.notes, _marker(run, owner, spec_hash)),
        spec_hash=spec_hash)


def _did_you_mean(given: str, choices: Iterable[str]) -> str:
    return did_you_mean(given, choices, cutoff=0.5, listed=20)


def _marker(run: DeclaredRun, owner: str, spec_hash: str) -> Marker:
    """Our marker; a sweep's run records its sweep and point too."""
    origin = run.manifest.metadata.sweep
    return Marker(owner, spec_hash, sweep=origin.name if origin else None, point=origin.point if origin else None,
                  secret=tuple(run.spec.sensitive))


def _invalid(addr: str, run: DeclaredRun, path: str, message: str, hint: str) -> Item:
    return Invalid(address=addr, reason=hint, sensitive=run.spec.sensitive,
                   problems=(Problem(location=str(run.where(path)), path=path, message=message),))


def _validation_problems(ctx: _Context, run: DeclaredRun, addr: str, request: RunRequest,
                         sensitive: tuple[str, ...]) -> list[Item]:
    if ctx.validation is None:
        return []
    errors = ctx.validation.get(validation_key(request.blueprint_id, request.config), ())
    if not errors:
        return []
    problems = []
    for error in errors:
        path = "spec.config" + error.path[1:] if error.path.startswith("$") else f"spec.config.{error.path}"
        # The server's words may quote the value: never a secret one.
        message = scrub(error.message, run.spec.config, sensitive)
        filled_by = run.variables_at(path)
        if filled_by:  # said where the value came from: the variable, not the manifest line
            message += " (the value of " + ", ".join(f"${{{n}}}" for n in filled_by) + ")"
        problems.append(Problem(location=str(run.where(path)), path=path, message=message))
    return [Invalid(address=addr, sensitive=sensitive, problems=tuple(problems),
                    reason="the blueprint's config schema refuses this config; fix spec.config")]


def _compare(ctx: _Context, run: DeclaredRun, live: Run, resolved: ResolvedBlueprint, task_type: str,
             spec_hash: str) -> tuple[tuple[Difference, ...], tuple[str, ...]]:
    """Differences that matter (declared vs live), and notices that do not force a change."""
    spec = run.spec
    user_notes, marker = parse_notes(live.notes)
    # The user changed something since the last apply: fields absent from the manifest now count too.
    edited = marker is not None and marker.spec != spec_hash
    diffs: list[Difference] = []
    notices: list[str] = []
    live_bp = ctx.live.blueprints_by_id.get(live.blueprint_id or "")
    if live.blueprint_id != resolved.id:
        pattern = spec.blueprint.version
        if live_bp is not None and live_bp.name == spec.blueprint.name and (pattern is None or
                                                                             ilike(live_bp.version, pattern)):
            notices.append(f"blueprint {spec.blueprint.name} {pattern or '(latest)'} now resolves to "
                           f"{resolved.version}; this run uses {live_bp.version}. Bump metadata.version to "
                           f"train on the newer blueprint")
        else:
            was = f"{live_bp.name} {live_bp.version}" if live_bp else f"blueprint id {live.blueprint_id}"
            diffs.append(Difference(path="blueprint", live=was,
                                    declared=f"{resolved.name} {pattern or '(latest)'} -> {resolved.version}"))
    if live.task_type != task_type:
        diffs.append(Difference(path="taskType", live=live.task_type, declared=task_type))
    diffs += _resource_differences(spec.resources, live.resources, edited)
    schema = live_bp.config_schema if live_bp is not None else resolved.config_schema
    declared_config = as_created(spec.config, live.config or {})  # references were resolved at the create
    diffs += _config_differences(declared_config, live.config or {}, schema, edited)
    if user_notes.rstrip() != (spec.notes or "").rstrip():
        notices.append("notes differ from the live run's; notes cannot change on a live run and take effect "
                       "when the run is next created")
    return tuple(diffs), tuple(notices)


def _resource_differences(declared: ResourcesSpec, live: Resources | None, edited: bool) -> Iterable[Difference]:
    live = live or Resources(cpu="", memory="")
    for name, key in (("cpu", "cpu"), ("memory", "memory"), ("ephemeralStorage", "ephemeral_storage")):
        want, have = getattr(declared, key), getattr(live, key)
        if want is None and not edited:
            continue
        if not same_quantity(want, have):
            yield Difference(path=f"resources.{name}", live=have, declared=want, in_live=have is not None,
                             in_manifest=want is not None)
    want_gpu = declared.gpu.model_dump() if declared.gpu else None
    have_gpu = live.gpu.model_dump() if live.gpu else None
    if (want_gpu is not None or edited) and want_gpu != have_gpu:
        yield Difference(path="resources.gpu", live=have_gpu, declared=want_gpu, in_live=have_gpu is not None,
                         in_manifest=want_gpu is not None)


def _project(live: Any, declared: Any) -> Any:
    """``live`` cut down to the keys ``declared`` has, so that server-filled extras are not differences."""
    if isinstance(live, dict) and isinstance(declared, dict):
        return {k: _project(live[k], declared[k]) for k in declared if k in live}
    return live


def _config_differences(declared: dict[str, Any], live: dict[str, Any], schema: Mapping[str, Any],
                        edited: bool) -> Iterable[Difference]:
    projected = _project(live, declared)
    if not same_json(projected, declared):
        yield from structural_differences(projected, declared, "config")
    if edited:
        yield from _removed_keys(declared, live, schema, "config")


class _JsonBool(str):
    """A JSON boolean, kept apart from numbers (Python and deepdiff take True == 1; JSON does not) and from
    strings (its own type), and compared as a leaf."""

    __slots__ = ()


def _tag(value: Any) -> Any:
    if isinstance(value, bool):
        return _JsonBool("true" if value else "false")
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, _JsonBool):
        return value == "true"
    if isinstance(value, dict):
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def structural_differences(live: Any, declared: Any, root: str) -> Iterable[Difference]:
    """What deepdiff finds between two JSON values (1 == 1.0, true != 1), one Difference per place."""
    diff = _deepdiff()(_tag(live), _tag(declared), ignore_type_in_groups=[(int, float)], view="tree",
                    ignore_private_variables=False)  # a config key may start with "__"
    missing = _not_present()
    for report in diff.values():
        for level in report:
            path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                  for p in level.path(output_format="list"))
            in_live, in_manifest = level.t1 is not missing, level.t2 is not missing
            yield Difference(path=path, live=_untag(level.t1) if in_live else None,
                             declared=_untag(level.t2) if in_manifest else None, in_live=in_live,
                             in_manifest=in_manifest)


#: What deepdiff imports where installed, to compare arrays and frames: configs are JSON, and
#: numpy alone would be most of a first plan's start-up.
DEEPDIFF_OPTIONALS = ("numpy", "pandas", "polars")


def _deepdiff() -> Any:
    """DeepDiff, imported only when a config differs, without its optional array libraries: configs are JSON."""
    return import_without("deepdiff", DEEPDIFF_OPTIONALS).DeepDiff


def _not_present() -> Any:
    """deepdiff's marker of a value one side does not have."""
    return import_without("deepdiff.helper", DEEPDIFF_OPTIONALS).notpresent


def _removed_keys(declared: dict[str, Any], live: dict[str, Any], schema: Mapping[str, Any],
                  prefix: str) -> Iterable[Difference]:
    properties = schema.get("properties") or {}
    for key, value in live.items():
        found = properties.get(key)
        prop: Mapping[str, Any] = found if isinstance(found, dict) else {}
        if key not in declared:
            if is_schema_default(prop, value):
                continue  # filled in by the server
            yield Difference(path=f"{prefix}.{key}", live=value, declared=None, in_manifest=False)
        elif isinstance(value, dict) and isinstance(declared[key], dict):
            yield from _removed_keys(declared[key], value, prop, f"{prefix}.{key}")


RunKey = tuple[str, str, str]  # (project id, name, version)


def _prune(ctx: _Context, declared_keys: set[RunKey], by_address: Mapping[RunKey, list[Run | RunSummary]],
           observed: list[Observed], seen: list[str]) -> list[Item]:
    """Runs we own that no manifest declares: deleted with --prune, and shown (and counted) without it."""
    items: list[Item] = []
    listed = ctx.live.complete_projects | ctx.live.active_projects
    undeclared = [(key, runs, ours) for key, runs in by_address.items()
                  if key[0] in listed and key not in declared_keys
                  and (ours := [r for r in runs if _owned(ctx, r)])]
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
