"""A run declared ``state: running``: whether it can be planned at all (its blueprint, task type, GPU type,
resume), then its case: created (once what it depends on finished, or as a retry after a failure), left as it is
(failed), unchanged (with its promotions, retention and limits), replaced, or blocked from being replaced. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chariot_apply.chariot.models import Gpu, Resources, Run
from chariot_apply.diagnostics import codes
from chariot_apply.manifest.duration import format_duration
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.compare import differences
from chariot_apply.plan.context import PlanContext, invalid, live_ref, suggestion
from chariot_apply.plan.harvest import Harvest, harvest_items
from chariot_apply.plan.identity import desired_spec, validation_key
from chariot_apply.plan.lifecycle import LimitCall, next_retry, of_spec, past_limit, retry_gate, retry_rule
from chariot_apply.plan.live import ResolvedBlueprint
from chariot_apply.plan.model import (
    BlockedReplace,
    BlueprintChoice,
    Create,
    Failed,
    Invalid,
    Item,
    LiveRun,
    NoOp,
    Problem,
    Replace,
    RunRequest,
    Stop,
    Waiting,
)
from chariot_apply.plan.ownership import Marker, compose_notes, declared_keys, declared_paths, spec_fingerprint
from chariot_apply.plan.references import substitute
from chariot_apply.plan.sensitive import scrub
from chariot_apply.plan.upstreams import gate

REPLACE_HINT = ("runs are immutable: bump metadata.version to train a new run beside it, or allow the replace "
                "with --allow-replace (or spec.allowReplace: true)")


@dataclass(frozen=True)
class _Target:
    """One declared running run, resolved: what a create would send, and the addresses and paths it is said at."""

    run: DeclaredRun
    addr: str
    project_id: str
    request: RunRequest
    choice: BlueprintChoice
    sensitive: tuple[str, ...]  # what the manifest marks, and what the blueprint's schema says is write-only


def plan_running(ctx: PlanContext, run: DeclaredRun, addr: str, project_id: str, current: Run | None,
                 attempts: Sequence[Run]) -> list[Item]:
    checked = _runnable(ctx, run, addr)
    if isinstance(checked, Invalid):
        return [checked]
    resolved, task_type = checked
    spec = run.spec
    target = _Target(run, addr, project_id, _request(run, project_id, resolved, task_type, ctx.options.owner),
                     BlueprintChoice(name=resolved.name, pattern=spec.blueprint.version, id=resolved.id,
                                     version=resolved.version),
                     tuple(dict.fromkeys((*spec.sensitive, *resolved.write_only))))
    if current is None:
        return _validation_problems(ctx, target) or _plan_create(ctx, target, attempts)
    if current.status == "job_failed":  # onFailure: leave (a recreate keeps it as an attempt: not current)
        return [Failed(address=addr, live=live_ref(current), sensitive=target.sensitive,
                       reason=f"run {current.id} failed and is left as it is; set spec.onFailure: recreate to "
                              "recreate it (at most maxRetries times)")]
    return _plan_live(ctx, target, current, attempts, resolved, task_type)


def _runnable(ctx: PlanContext, run: DeclaredRun, addr: str) -> Invalid | tuple[ResolvedBlueprint, str]:
    """(the blueprint, the task type) a running run is planned with, or the located problem that keeps it from
    being planned at all."""
    spec = run.spec
    resolved = ctx.live.blueprints.get((spec.blueprint.name, spec.blueprint.version))
    if not isinstance(resolved, ResolvedBlueprint):
        return _invalid(addr, run, "spec.blueprint", resolved or "blueprint was not resolved",
                        "check spec.blueprint.name and the version pattern (SQL ILIKE)", code=codes.BLUEPRINT_NOT_FOUND)
    if (spec.promote or spec.checkpoints) and ctx.live.models is None:
        where = "spec.promote" if spec.promote else "spec.checkpoints"
        return _invalid(addr, run, where, "this backend cannot list models, so it cannot tell whether a promotion "
                        "was made or which checkpoints a model came from",
                        "promotions and checkpoint retention need --backend rest", code=codes.BACKEND_CANNOT)
    task_type = spec.task_type or (resolved.task_types[0] if len(resolved.task_types) == 1 else None)
    found = [p for p in (_task_type_problem(run, addr, resolved, task_type), _gpu_problem(ctx, run, addr),
                         _resume_problem(run, addr, resolved)) if p is not None]
    if found:  # every one of them at once: fixing one never reveals the next
        return found[0] if len(found) == 1 else found[0].model_copy(update={
            "problems": tuple(p for f in found for p in f.problems),
            "reason": "; ".join(dict.fromkeys(f.reason for f in found if f.reason))})
    assert task_type is not None  # said by _task_type_problem otherwise
    return resolved, task_type


def _invalid(addr: str, run: DeclaredRun, path: str, message: str, hint: str, *, code: str) -> Invalid:
    found = invalid(addr, run, path, message, hint, code=code)
    assert isinstance(found, Invalid)
    return found


def _task_type_problem(run: DeclaredRun, addr: str, resolved: ResolvedBlueprint,
                       task_type: str | None) -> Invalid | None:
    if task_type is None and not resolved.described:
        return _invalid(addr, run, "spec.taskType", "taskType is required: this backend cannot read a blueprint's "
                        "task types", "declare spec.taskType (the SDK has no call for a blueprint's task types)",
                        code=codes.TASK_TYPE)
    if task_type is None:
        return _invalid(addr, run, "spec.taskType",
                        f"taskType is required: blueprint {resolved.name} {resolved.version} offers "
                        f"{list(resolved.task_types) or 'no task types'}", "set spec.taskType", code=codes.TASK_TYPE)
    if resolved.task_types and task_type not in resolved.task_types:
        return _invalid(addr, run, "spec.taskType",
                        f"taskType {task_type!r} is not one of blueprint {resolved.name} {resolved.version}'s: "
                        f"{list(resolved.task_types)}", suggestion(task_type, resolved.task_types),
                        code=codes.TASK_TYPE)
    return None


def _gpu_problem(ctx: PlanContext, run: DeclaredRun, addr: str) -> Invalid | None:
    gpu = run.spec.resources.gpu
    offered = ctx.live.gpu_types
    if gpu is not None and offered is not None and gpu.type not in offered:
        return _invalid(addr, run, "spec.resources.gpu.type",
                        f"GPU type {gpu.type!r} is not one Chariot offers: {sorted(offered) or 'none'}",
                        suggestion(gpu.type, offered), code=codes.GPU_TYPE)
    return None


def _resume_problem(run: DeclaredRun, addr: str, resolved: ResolvedBlueprint) -> Invalid | None:
    if run.spec.on_failure.resume == "lastCheckpoint" and not _takes_start_model(resolved):
        return _invalid(addr, run, "spec.onFailure.resume",
                        f"blueprint {resolved.name} {resolved.version}'s config has no start_model: a new run "
                        "cannot resume from a checkpoint", "use resume: none, or a blueprint that takes start_model",
                        code=codes.RESUME_INVALID)
    return None


def _takes_start_model(blueprint: ResolvedBlueprint) -> bool:
    """Whether the blueprint's config has a start_model (where its schema names its properties at all)."""
    properties = blueprint.config_schema.get("properties")
    return not isinstance(properties, Mapping) or not properties or "start_model" in properties


def _plan_live(ctx: PlanContext, target: _Target, current: Run, attempts: Sequence[Run],
               resolved: ResolvedBlueprint, task_type: str) -> list[Item]:
    """The declared run has a live run of ours: unchanged, replaced, or blocked from being replaced; its limits
    hold in every case."""
    run, addr, sensitive = target.run, target.addr, target.sensitive
    ref = live_ref(current)
    found, notices = differences(run, current, resolved, task_type, target.request.spec_hash,
                                 ctx.live.blueprints_by_id)
    if attempts:
        notices += (f"{len(attempts)} earlier attempt(s) failed and are kept: "
                    + ", ".join(a.id or "?" for a in attempts),)
    limit = past_limit(run, current, ctx.live.now) if ref.phase == "active" else None
    limit_stop = Stop(address=addr, live=ref, rule=limit.rule, reason=limit.reason, sensitive=sensitive) \
        if limit is not None and limit.action == "stop" else None
    if not found:
        if limit is not None and limit.action == "recreate":
            limit_stop = _stall_stop(target, ref, limit, attempts)
        return _unchanged(ctx, target, current, ref, notices, limit_stop)
    if not (ctx.options.allow_replace or run.spec.allow_replace):
        # Validated too: a config the blueprint refuses is said as such, not as a replace that is not allowed.
        blocked: list[Item] = _validation_problems(ctx, target) or [
            BlockedReplace(address=addr, live=ref, differences=found, notices=notices, sensitive=sensitive,
                           reason=REPLACE_HINT, run=target.request)]
        # The run trains on meanwhile, and its limits hold: a stop (never a recreate, which would be the replace).
        return blocked + ([limit_stop] if limit_stop is not None else [])
    return _validation_problems(ctx, target) or [
        Replace(address=addr, live=ref, blueprint=target.choice, run=target.request, differences=found,
                notices=notices, sensitive=sensitive,
                reason="the declared run differs from the live one, and replacing is allowed")]


def _stall_stop(target: _Target, ref: LiveRun, limit: LimitCall, attempts: Sequence[Run]) -> Stop:
    """A stall's recreate: the stalled run is stopped and kept, with its checkpoints, as an attempt; the next
    reconcile creates the next attempt once it has stopped (``lifecycle.stalled_attempt``), until the rule's
    ``maxRetries`` are used up. Nothing is deleted."""
    stall = target.run.spec.limits.stall if target.run.spec.limits is not None else None
    allowed = 1 + (stall.max_retries if stall is not None else 0)
    this = 1 + sum(1 for a in of_spec(attempts, target.request.spec_hash) if a.status == "job_terminated")
    then = (f"kept with its checkpoints as attempt {this} of {allowed}; the next reconcile creates attempt "
            f"{this + 1} once it has stopped") if this < allowed else \
        f"its {allowed - 1} recreate(s) are used up (spec.limits.stall.maxRetries): stopped and left"
    return Stop(address=target.addr, live=ref, rule=limit.rule, reason=f"{limit.reason}; {then}",
                sensitive=target.sensitive)


def _unchanged(ctx: PlanContext, target: _Target, current: Run, ref: LiveRun, notices: tuple[str, ...],
               limit_stop: Stop | None) -> list[Item]:
    """The live run is as declared: nothing, or what its rules call for now (a stop or a recreate at a limit, its
    promotions and checkpoint retention)."""
    run, addr, sensitive = target.run, target.addr, target.sensitive
    reason = {"active": "up to date", "stopping": f"being stopped ({current.status}); left alone",
              "finished": f"finished ({current.status}); left alone"}.get(ref.phase, "up to date")
    harvested: list[Item] = []
    if run.spec.promote or run.spec.checkpoints:
        harvested, waiting = harvest_items(run, addr, current, ref, ctx.live.project_ids, target.project_id,
                                           ctx.live.harvest.get(current.id or "", Harvest()),
                                           ctx.live.models or (),  # known here: checked by _runnable
                                           ctx.options.owner, ctx.live.pending_models, ctx.live.champions)
        notices += tuple(waiting)
    if limit_stop is not None:
        return [limit_stop.model_copy(update={"notices": notices}), *harvested]
    return [NoOp(address=addr, live=ref, reason=reason, notices=notices, sensitive=sensitive), *harvested]


def _plan_create(ctx: PlanContext, target: _Target, attempts: Sequence[Run]) -> list[Item]:
    """No run of ours is at the address: a create, once what it depends on has finished; a retry (a lifecycle
    create) when every run here failed; or nothing more once the retries are used up."""
    run, addr, request, sensitive = target.run, target.addr, target.request, target.sensitive
    gated = gate(ctx, run, addr, request)
    if isinstance(gated, list):
        return gated
    resolved, upstreams = gated
    config = substitute(request.config, resolved)
    retry = next_retry(run, attempts, request.spec_hash, dict(ctx.live.harvest))
    kept = tuple(live_ref(a) for a in attempts)
    if retry is None:
        rule = f"created once {', '.join(upstreams)} finished (spec.dependsOn)" if upstreams else ""
        return [Create(address=addr, blueprint=target.choice, run=request.model_copy(update={"config": config}),
                       sensitive=sensitive, rule=rule, attempts=kept,
                       reason=f"declared; {', '.join(upstreams)} finished" if upstreams else "declared, not present")]
    if retry.exhausted:
        rule = "spec.limits.stall maxRetries" if retry.cause == "stalled" else "spec.onFailure maxRetries"
        return [Failed(address=addr, live=live_ref(retry.after), sensitive=sensitive,
                       reason=f"run {retry.after.id} {retry.cause}, the last of {retry.allowed} attempt(s) "
                              f"({rule} {retry.allowed - 1}); left as it is")]
    said = ""
    if retry.cause == "failed":
        gate_ = retry_gate(run, retry, attempts, ctx.live.last_events.get(retry.after.id or ""), ctx.live.now)
        said = f" ({gate_.words})"
        if gate_.verdict == "refuse":
            return [Failed(address=addr, live=live_ref(retry.after), sensitive=sensitive,
                           reason=f"run {retry.after.id} failed{said}: {gate_.why}; left as it is")]
        if gate_.verdict == "wait" and gate_.due is not None:
            wait = format_duration((gate_.due - ctx.live.now).total_seconds()) if ctx.live.now else "?"
            return [Waiting(address=addr, upstreams=(), spec_hash=request.spec_hash, sensitive=sensitive,
                            reason=f"retry {retry.words()} after run {retry.after.id} failed{said}: at "
                                   f"{gate_.due:%Y-%m-%d %H:%M:%S} UTC by the server's clock, in {wait} "
                                   f"({gate_.why})")]
    if retry.resume_from is not None:
        config = {**config, "start_model": {"checkpoint_id": retry.resume_from[0]}}
    notices = () if retry.resume_from or run.spec.on_failure.resume == "none" else (
        f"run {retry.after.id} left no complete checkpoint: the new run starts from the beginning",)
    did = f"stalled and was stopped ({retry.after.status})" if retry.cause == "stalled" else f"failed{said}"
    return [Create(address=addr, blueprint=target.choice, run=request.model_copy(update={"config": config}),
                   sensitive=sensitive, rule=retry_rule(run, retry.cause), attempts=kept, notices=notices,
                   reason=f"run {retry.after.id} {did}: {retry.words()}")]


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


def _marker(run: DeclaredRun, owner: str, spec_hash: str) -> Marker:
    """Our marker; a sweep's run records its sweep and point too."""
    origin = run.manifest.metadata.sweep
    res = run.spec.resources
    optional = [name for name, value in (("ephemeralStorage", res.ephemeral_storage), ("gpu", res.gpu)) if value]
    return Marker(owner, spec_hash, sweep=origin.name if origin else None, point=origin.point if origin else None,
                  secret=tuple(run.spec.sensitive), keys=declared_keys(declared_paths(run.spec.config, optional)))


def _validation_problems(ctx: PlanContext, target: _Target) -> list[Item]:
    """The server's refusals of the config this run would be created with, each at its manifest line."""
    if ctx.validation is None:
        return []
    run, request = target.run, target.request
    errors = ctx.validation.get(validation_key(request.blueprint_id, request.config), ())
    if not errors:
        return []
    problems = []
    for error in errors:
        path = "spec.config" + error.path[1:] if error.path.startswith("$") else f"spec.config.{error.path}"
        # The server's words may quote the value: never a secret one.
        message = scrub(error.message, run.spec.config, target.sensitive)
        filled_by = run.variables_at(path)
        if filled_by:  # said where the value came from: the variable, not the manifest line
            message += " (the value of " + ", ".join(f"${{{n}}}" for n in filled_by) + ")"
        problems.append(Problem(location=str(run.where(path)), path=path, message=message, code=codes.CONFIG_INVALID))
    return [Invalid(address=target.addr, sensitive=target.sensitive, problems=tuple(problems),
                    reason="the blueprint's config schema refuses this config; fix spec.config")]
