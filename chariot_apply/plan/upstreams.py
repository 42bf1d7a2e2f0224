"""What a declared run waits for before it is created: the runs it depends on (``spec.dependsOn``, ``${run:...}``
references) and the ids its references resolve to once those have finished; dependency cycles. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chariot_apply.diagnostics import codes
from chariot_apply.manifest.model import CheckpointChoice, DeclaredRun
from chariot_apply.plan.context import PlanContext, invalid, suggestion
from chariot_apply.plan.harvest import Harvest, choose, model_made_from
from chariot_apply.plan.lifecycle import Upstream, failed_attempts, upstream_state
from chariot_apply.plan.live import LiveState, RunKey
from chariot_apply.plan.model import Blocked, Invalid, Item, Problem, RunRequest, Waiting
from chariot_apply.plan.references import (
    Dependency,
    Reference,
    ReferenceError_,
    cycles,
    dependencies,
    qualified,
    references_in,
)


def dependency_cycles(declared_at: Mapping[RunKey, tuple[str, DeclaredRun]],
                       live: LiveState) -> dict[RunKey, list[str]]:
    edges: dict[str, list[str]] = {}
    keys: dict[str, RunKey] = {}
    for key, (addr, run) in declared_at.items():
        keys[addr] = key
        try:
            found = dependencies(run)
        except ReferenceError_:
            continue  # said where the run is planned
        upstream_keys = [upstream_key(d.address, run, live) for d in found]
        edges[addr] = [declared_at[k][0] for k in upstream_keys if k is not None and k in declared_at]
    return {keys[a]: loop for a, loop in cycles(edges).items()}


def upstream_key(written: str, run: DeclaredRun, live: LiveState) -> RunKey | None:
    parts = qualified(written, run.project)
    if parts is None:
        return None
    project_id = live.project_ids.get(parts[0])
    return (project_id, parts[1], parts[2]) if project_id is not None else None


def gate(ctx: PlanContext, run: DeclaredRun, addr: str,
         request: RunRequest) -> list[Item] | tuple[dict[str, str], tuple[str, ...]]:
    """What the run's dependencies allow: items to show instead of a create (waiting, or a located error), or
    (each reference resolved to its id, the upstream addresses)."""
    try:
        found = dependencies(run)
    except ReferenceError_ as bad:
        return [invalid(addr, run, bad.path, str(bad), "see `${run:...}` in docs/lifecycle.md",
                        code=codes.REFERENCE_INVALID)]
    if not found:
        return {}, ()
    key = (request.project_id, run.name, run.version)
    if key in ctx.cycles:
        return [invalid(addr, run, found[0].path, "a dependency cycle: " + " -> ".join(ctx.cycles[key]),
                        "a run cannot wait, even through others, for itself: remove one of the dependencies",
                        code=codes.DEPENDENCY_CYCLE)]
    upstreams = _upstreams(ctx, run, addr, found)
    if isinstance(upstreams, list):
        return upstreams
    waiting = [state.words for state in upstreams.values() if state.state == "waiting"]
    if waiting:
        return [Waiting(address=addr, upstreams=tuple(upstreams), spec_hash=request.spec_hash,
                        sensitive=run.spec.sensitive, reason="waiting for " + "; ".join(waiting))]
    resolved = _resolved_references(ctx, run, addr, upstreams, request)
    return resolved if isinstance(resolved, list) else (resolved, tuple(upstreams))


def _upstreams(ctx: PlanContext, run: DeclaredRun, addr: str,
               found: Sequence[Dependency]) -> list[Item] | dict[str, Upstream]:
    """The state of each run ``run`` depends on, by address; or the located error of one that is not declared or
    has failed."""
    upstreams: dict[str, Upstream] = {}
    for dep in found:
        up_key = upstream_key(dep.address, run, ctx.live)
        if up_key is None or up_key not in ctx.declared_at:
            known = [a for a, _ in ctx.declared_at.values() if a != addr]  # a run never waits for itself
            return [invalid(addr, run, dep.path, f"{dep.address!r} is not a declared run",
                            f"{suggestion(dep.address, known)}; an address is project/name@version, or "
                            "name@version in this run's project", code=codes.DEPENDENCY_UNKNOWN)]
        up_addr, up_run = ctx.declared_at[up_key]
        if up_addr in upstreams:
            continue
        owned = [r for r in ctx.by_address.get(up_key, []) if ctx.owned(r)]
        up_attempts = failed_attempts(up_run, owned)
        alive = [r for r in owned if r not in up_attempts]
        state = upstream_state(up_addr, up_run, alive[0] if alive else None, up_attempts)
        if state.state == "failed":  # blocked, not failed: nothing else waits for it
            return [Blocked(address=addr, action="create", rule=dep.path, sensitive=run.spec.sensitive,
                            location=str(run.where(dep.path)),
                            reason=f"it depends on {state.words}", fix="nothing that depends on a failed run is "
                            f"created: fix {up_addr} (spec.onFailure: recreate retries it), or remove the dependency "
                            f"({run.where(dep.path)})")]
        upstreams[up_addr] = state
    return upstreams


def _resolved_references(ctx: PlanContext, run: DeclaredRun, addr: str, upstreams: Mapping[str, Upstream],
                         request: RunRequest) -> list[Item] | dict[str, str]:
    """Each ``${run:...}`` reference of the config resolved to the id it names, once every upstream finished; or
    what to show instead (the reference cannot be resolved, or the model it names is not made yet)."""
    resolved: dict[str, str] = {}
    for reference in references_in(run.spec.config):
        up_key = upstream_key(reference.address, run, ctx.live)
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
    return resolved


def _resolve(ctx: PlanContext, reference: Reference, upstream: DeclaredRun, state: Upstream) -> str | Problem | None:
    """The id a reference names, a problem, or None: not there yet (a promotion made by this very plan)."""
    live = state.live
    assert live is not None
    if reference.what == "model":
        if not upstream.spec.promote:
            return Problem(location="", path=reference.path, code=codes.REFERENCE_INVALID,
                           message=f"{reference.text}: {state.words} declares no spec.promote, so it makes no model")
        targets = {(p.model.name, p.model.version) for p in upstream.spec.promote}
        made = [m for m in ctx.live.models or () if (m.name, m.version) in targets
                and model_made_from(m.summary, ctx.options.owner, live.id)]
        return made[0].id if made else None
    choice = CheckpointChoice(select="best", metric=reference.metric, mode=reference.mode) \
        if reference.what == "best" else CheckpointChoice(select="last")
    checkpoint, missing = choose(ctx.live.harvest.get(live.id or "", Harvest()), choice)
    if checkpoint is None:
        return Problem(location="", path=reference.path, code=codes.REFERENCE_INVALID,
                       message=f"{reference.text}: {state.words} has no {missing.removeprefix('a ')}")
    return checkpoint.id or ""
