"""Planning: what a command would change, and the lock of blueprints it resolves through."""


from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.lock import LockedBlueprint, LockFile, read_lock, uncovered, write_lock
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.fetch import PLAN_CONCURRENCY, fetch_live_state, live_and_plan, plan_validated
from chariot_apply.plan.live import BlueprintKey, LiveState, ResolvedBlueprint
from chariot_apply.plan.model import Plan, PlanOptions, PlanTarget
from chariot_apply.plan.sensitive import write_only_paths
from chariot_apply.runtime.concurrency import Bounded
from chariot_apply.workspace.pending_models import read_pending_entries
from chariot_apply.workspace.project import Workspace


def blueprint_keys(declared: Sequence[DeclaredRun]) -> set[BlueprintKey]:
    """The (blueprint name, version pattern) pairs the running declared runs resolve."""
    return {(r.spec.blueprint.name, r.spec.blueprint.version) for r in declared if r.spec.state == "running"}


async def plan(workspace: Workspace, options: PlanOptions, declared: Sequence[DeclaredRun] | None = None, *,
               commit: str | None = None, locked: bool = False) -> Plan:
    """The plan for ``workspace``, naming the Chariot it was made against (and ``commit``, when known).

    Blueprints resolve through the lock file; pairs it does not cover yet are added to it (with ``locked``,
    meant for CI, a missing or incomplete lock is an error instead)."""
    declared = workspace.manifests() if declared is None else declared
    lock = read_lock(workspace.lock_path)
    missing = uncovered(lock, blueprint_keys(declared))
    if locked and (lock is None or missing):
        what = "there is no lock file" if lock is None else "the lock file does not cover " + ", ".join(
            f"{name} {pattern or '(latest)'}" for name, pattern in missing)
        raise UserError(f"--locked: {what} ({workspace.lock_path})",
                        hint=f"run {hints.LOCK.cited()} (or a plan without --locked) and commit chariot-apply.lock",
                        code=codes.LOCK_FILE)
    async with workspace.client() as client:
        live, made = await live_and_plan(client, declared, options, adopted=workspace.project.adopted,
                                         locked=lock.ids() if lock else None,
                                         pending_models=read_pending_entries(workspace.pending_path))
        limitations = tuple(f"the {workspace.connection.backend} backend: {what}" for what in client.limitations)
    if missing:
        _write_lock(workspace, lock, live, missing)
    skipped = workspace.skipped()
    made = made.model_copy(update={"target": PlanTarget(server=workspace.connection.server_name, commit=commit,
                                                        planned_at=datetime.now(UTC),
                                                        backend=workspace.connection.backend),
                                   "warnings": (*made.warnings, *limitations, *([skipped] if skipped else []))})
    if made.unmatched:
        raise UserError(f"--target/--exclude {', '.join(repr(s) for s in made.unmatched)} matches no run",
                        hint="give an address as project/name@version (globs allowed; without @version: every "
                             "version), as the plan shows it", code=codes.NO_MATCH)
    return made


async def validate_online(workspace: Workspace, declared: Sequence[DeclaredRun]) -> Plan:
    """Blueprints resolved and configs validated for every declared run, whatever the live runs."""
    options = PlanOptions(owner=workspace.project.owner)
    async with workspace.client() as client:
        bound = Bounded(PLAN_CONCURRENCY)
        live = await fetch_live_state(client, declared, bound=bound)
        # As if nothing existed: every declared run would be created, so every config is validated.
        return await plan_validated(client, declared, replace(live, runs=()), options, bound)


def _locked(key: BlueprintKey, blueprint: ResolvedBlueprint) -> LockedBlueprint:
    return LockedBlueprint(name=key[0], pattern=key[1], id=blueprint.id, version=blueprint.version,
                           secret=write_only_paths(blueprint.config_schema))


def _write_lock(workspace: Workspace, lock: LockFile | None, live: LiveState, keys: Iterable[BlueprintKey]) -> None:
    entries = [_locked(k, b) for k in keys if isinstance(b := live.blueprints.get(k), ResolvedBlueprint)]
    if entries:
        write_lock(workspace.lock_path, (lock or LockFile()).with_entries(entries))


async def lock(workspace: Workspace, upgrade: Sequence[str] | None = None) -> list[str]:
    """Resolve the manifests' blueprints into the lock file: pairs it lacks are added; with ``upgrade`` (blueprint
    names; empty: all), locked pairs move to what they resolve to now. Returns what changed."""
    declared = workspace.manifests()
    current = read_lock(workspace.lock_path) or LockFile()
    keys = blueprint_keys(declared)
    named = {k[0] for k in keys}
    for name in upgrade or ():
        if name not in named:
            raise UserError(f"no manifest declares blueprint {name!r}, so there is nothing of it to upgrade",
                            hint=did_you_mean(name, named), code=codes.NO_MATCH)
    redo = {k for k in keys if upgrade is not None and (not upgrade or k[0] in upgrade)}
    # Named blueprints only: `--upgrade a` moves a's pairs and touches nothing else (not even unlocked ones).
    wanted = redo if upgrade else set(uncovered(current, keys)) | redo
    async with workspace.client() as client:
        live = await fetch_live_state(client, [r for r in declared if (r.spec.blueprint.name,
                                                                       r.spec.blueprint.version) in wanted])
    failed = {k: v for k, v in live.blueprints.items() if isinstance(v, str)}
    if failed:
        raise UserError("cannot lock: " + "; ".join(f"{k[0]} {k[1] or '(latest)'}: {v}" for k, v in failed.items()),
                        hint="check spec.blueprint in the manifests", code=codes.LOCK_FILE)
    before = current.ids()
    entries = [_locked(k, b) for k, b in live.blueprints.items()
               if isinstance(b, ResolvedBlueprint) and before.get(k) != b.id]
    write_lock(workspace.lock_path, current.with_entries(entries))
    return [f"{e.name} {e.pattern or '(latest)'} -> {e.version} ({e.id})" for e in entries]



