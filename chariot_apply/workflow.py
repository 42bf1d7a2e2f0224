"""The library's front door: what each command does, without arguments parsing, printing or exiting."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from chariot_apply.apply.executor import ApplyResult, Executor, Outcome, Reporter
from chariot_apply.apply.stale import stale_addresses
from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.models import FINISHED_STATUSES, Event, Metric, Run
from chariot_apply.concurrency import Bounded
from chariot_apply.errors import UserError, plain_message
from chariot_apply.export import export_manifests
from chariot_apply.files import safe_file_name, write_inside
from chariot_apply.manifest.lock import LockedBlueprint, LockFile, read_lock, uncovered, write_lock
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.project_file import add_adopted
from chariot_apply.pending import add_pending, read_pending_entries
from chariot_apply.plan.diff import address, selected
from chariot_apply.plan.document import PlanDocument
from chariot_apply.plan.fetch import PLAN_CONCURRENCY, fetch_live_state, live_and_plan, plan_validated
from chariot_apply.plan.live import BlueprintKey, LiveState, ProjectIndex, ResolvedBlueprint, runs_by_address
from chariot_apply.plan.model import Plan, PlanOptions, PlanTarget
from chariot_apply.plan.ownership import is_owned
from chariot_apply.plan.sensitive import write_only_paths
from chariot_apply.render.document import render_json
from chariot_apply.render.status import StatusDocument, status_document
from chariot_apply.results import Report, build_report, parse_rank_by, sweep_metrics
from chariot_apply.runlock import Busy, exclusive
from chariot_apply.suggest import did_you_mean
from chariot_apply.watch import (
    Until,
    Waited,
    events_of,
    find_run,
    follow_events,
    run_views,
    runs_at_address,
    wait_for,
)
from chariot_apply.workspace import Workspace as Workspace
from chariot_apply.workspace import open_workspace as open_workspace


class StalePlanError(UserError):
    hint = "run `chariot-apply plan` again and review the new plan"

    def __init__(self, stale: list[str]) -> None:
        super().__init__("the plan is stale: runs it changes have changed since it was made:", details=tuple(stale))


def save_plan(plan_: Plan, out: Path) -> None:
    """The unredacted plan (it must send exactly these values), private from its first byte: created 0600,
    never made so afterwards."""
    text = render_json(plan_, redact=False).encode()
    out.unlink(missing_ok=True)  # an existing file would keep its mode
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(text)


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
                        hint="run `chariot-apply lock` (or a plan without --locked) and commit chariot-apply.lock")
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
                             "version), as the plan shows it")
    return made


async def validate_online(workspace: Workspace, declared: Sequence[DeclaredRun]) -> Plan:
    """Blueprints resolved and configs validated for every declared run, whatever the live runs."""
    options = PlanOptions(owner=workspace.project.owner)
    async with workspace.client() as client:
        bound = Bounded(PLAN_CONCURRENCY)
        live = await fetch_live_state(client, declared, bound=bound)
        # As if nothing existed: every declared run would be created, so every config is validated.
        return await plan_validated(client, declared, replace(live, runs=()), options, bound)


async def apply(workspace: Workspace, plan_: Plan, reporter: Reporter, *, check_stale: bool,
                concurrency: int = 16, pull_request: int | None = None) -> ApplyResult:
    async with workspace.client() as client:
        if check_stale:
            stale = await stale_addresses(client, plan_)
            if stale:
                raise StalePlanError(stale)
        result = await Executor(client, reporter, concurrency=concurrency, pull_request=pull_request).apply(plan_)
        sent_at = client.server_now()  # pending creates are timed by the server's clock, as plans read them
    if result.pending_models:
        add_pending(workspace.pending_path, result.pending_models, sent_at)
    return result


@dataclass(frozen=True)
class Reconciled:
    """What ``reconcile`` did: the plan it made, the outcome of its lifecycle actions, and whether another
    reconcile held the workspace (then it did nothing)."""

    plan: Plan
    result: ApplyResult
    busy: bool = False


async def reconcile(workspace: Workspace, options: PlanOptions, reporter: Reporter, *, locked: bool = False,
                    concurrency: int = 16) -> Reconciled:
    """Plan, then carry out only the lifecycle actions (limits, retries, promotions, retention, creates after
    what they depend on): what the reviewed manifests call for now. Declared drift is reported, never applied."""
    try:
        with exclusive(workspace.pending_path.parent / "reconcile.lock"):
            made = await plan(workspace, options, locked=locked)
            lifecycle = made.only_lifecycle()
            result = await apply(workspace, lifecycle, reporter, check_stale=False, concurrency=concurrency) \
                if lifecycle.has_changes else ApplyResult(())
            return Reconciled(made, result)
    except Busy:
        empty = Plan(options=options, items=())
        return Reconciled(empty, ApplyResult(()), busy=True)


async def carry_through(workspace: Workspace, options: PlanOptions, plan_: Plan, created: Sequence[str],
                        until: Until, timeout: float, interval: float,
                        on_poll: Callable[[Sequence[Run]], None],
                        on_outcome: Callable[[Outcome], None]) -> Waited:
    """``apply --wait``: wait for the runs ``created`` to reach ``until``; while declared runs wait for what they
    depend on, reconcile (lifecycle actions only: nothing that was not in the applied manifests' rules) until
    they are created, and wait for those too. Ends by ``timeout`` seconds, like the wait it extends."""
    deadline = time.monotonic() + timeout
    waiting, ids = plan_.waiting, list(created)
    while True:
        waited = await wait(workspace, ids, until, max(0.0, deadline - time.monotonic()), interval, on_poll)
        if waited.failed or waited.timed_out or not waiting:
            return waited
        done = await reconcile(workspace, options, Reporter(), concurrency=16)
        for outcome in done.result.outcomes:
            on_outcome(outcome)
        if not done.result.ok:
            return replace(waited, timed_out=False)  # said through on_outcome; the caller exits 1 on it
        made = [o.run_id for o in done.result.outcomes if o.ok and o.kind == "create" and o.run_id]
        ids = sorted({*ids, *made})
        waiting = done.plan.waiting
        if not made and waiting:
            if time.monotonic() >= deadline:
                return replace(waited, timed_out=True)
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


async def report(workspace: Workspace, targets: Sequence[str] = (), excludes: Sequence[str] = (),
                 rank_by: str | None = None) -> Report:
    """The results of the declared runs (those ``targets`` select): each one's newest run of ours, its metrics and
    last event, and the models made from them."""
    declared = workspace.manifests()
    options = workspace.plan_options(targets=tuple(targets), excludes=tuple(excludes))
    owner, adopted = workspace.project.owner, frozenset(workspace.project.adopted)
    async with workspace.client() as client:
        bound = Bounded(PLAN_CONCURRENCY)
        live = await fetch_live_state(client, declared, adopted=adopted, bound=bound, everything=False)
        at = runs_by_address(live.runs)
        chosen: list[DeclaredRun] = []
        addresses: dict[int, str] = {}
        current: dict[str, Run] = {}
        for run in declared:
            project_id = live.project_ids.get(run.project)
            addr = address(live.project_names.get(project_id or "", run.project), run.name, run.version)
            if not selected(addr, options):
                continue
            addresses[len(chosen)] = addr
            chosen.append(run)
            ours = [r for r in at.get((project_id or "", run.name, run.version), [])
                    if is_owned(r.notes, r.id, owner, adopted)]
            alive = [r for r in ours if r.status != "job_failed"]
            if alive or ours:
                current[addr] = alive[0] if alive else ours[-1]  # the run, else the newest failed attempt
        if targets and not chosen:
            raise UserError(f"--target {', '.join(targets)} matches no declared run",
                            hint="give an address as project/name@version (globs allowed)")
        ids = sorted(r.id for r in current.values() if r.id)
        metrics = await bound.all(client.get_all_metrics(i) for i in ids)
        events = await bound.all(client.get_events(i, limit=1, sort=["sequence:desc"]) for i in ids)
        projects = sorted({r.project_id for r in current.values() if r.project_id})
        models = await client.get_models(project_ids=projects) if client.lists_models and projects else []
        sources = sorted({m.checkpoint_id for m in models if m.checkpoint_id})
        checkpoints = await client.get_checkpoints(ids=sources, limit=1000) if sources else []
        now = client.server_now() or datetime.now(UTC)
    return build_report(owner, chosen, addresses, current, dict(zip(ids, metrics, strict=True)),
                        {i: e[0] for i, e in zip(ids, events, strict=True) if e}, models, now,
                        parse_rank_by(rank_by), {c.id: c.global_step for c in checkpoints
                                                 if c.id and c.global_step is not None})


def read_plan(path: Path) -> PlanDocument:
    """A plan document (saved, or from ``--format json``), or a clear refusal of anything else."""
    try:
        return PlanDocument.model_validate_json(path.read_bytes())
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise UserError(f"{path} is not a chariot-apply plan ({where + ': ' if where else ''}{plain_message(first)})",
                        hint="make one with `chariot-apply plan --out FILE` or `--format json`") from None


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
                            hint=did_you_mean(name, named))
    redo = {k for k in keys if upgrade is not None and (not upgrade or k[0] in upgrade)}
    # Named blueprints only: `--upgrade a` moves a's pairs and touches nothing else (not even unlocked ones).
    wanted = redo if upgrade else set(uncovered(current, keys)) | redo
    async with workspace.client() as client:
        live = await fetch_live_state(client, [r for r in declared if (r.spec.blueprint.name,
                                                                       r.spec.blueprint.version) in wanted])
    failed = {k: v for k, v in live.blueprints.items() if isinstance(v, str)}
    if failed:
        raise UserError("cannot lock: " + "; ".join(f"{k[0]} {k[1] or '(latest)'}: {v}" for k, v in failed.items()),
                        hint="check spec.blueprint in the manifests")
    before = current.ids()
    entries = [_locked(k, b) for k, b in live.blueprints.items()
               if isinstance(b, ResolvedBlueprint) and before.get(k) != b.id]
    write_lock(workspace.lock_path, current.with_entries(entries))
    return [f"{e.name} {e.pattern or '(latest)'} -> {e.version} ({e.id})" for e in entries]


@dataclass(frozen=True)
class Exported:
    documents: list[dict[str, Any]]
    runs: list[Run]  # the runs the documents declare
    skipped: list[str]
    variables: list[str]  # "address: config.path -> ${VARIABLE}": secret values are written as references


async def export(workspace: Workspace, project: str, *, name_ilikes: Sequence[str] = (),
                 statuses: Sequence[str] = (), ids: Sequence[str] = (), include_managed: bool = False) -> Exported:
    """Manifests for the live runs of ``project`` that the filters select (``get_runs`` semantics), but for those
    chariot-apply manages already (their manifests exist: a second copy would declare them twice) unless
    ``include_managed``. Nothing selected is an error: an export of nothing is never "done"."""
    async with workspace.client() as client:
        index = ProjectIndex.of(await client.find_projects([project]))
        project_id = index.ids.get(project)
        if project_id is None:
            known = await client.get_projects()
            raise UserError(f"project {project!r} does not exist",
                            hint=f"give a project name or id: {did_you_mean(project, [p.name for p in known])}")
        filters: dict[str, Any] = {"project_ids": [project_id]}
        filters |= {"name_ilikes": list(name_ilikes)} if name_ilikes else {}
        filters |= {"statuses": list(statuses)} if statuses else {}
        filters |= {"ids": list(ids)} if ids else {}
        listed = [r async for r in client.iter_runs(page_size=1000, **filters)]
        owner, adopted = workspace.project.owner, workspace.project.adopted
        runs = [r for r in listed if include_managed or not is_owned(r.notes, r.id, owner, adopted)]
        if not runs:
            managed = len(listed) - len(runs)
            raise UserError(f"no run in project {project!r} matches" + (
                f" that chariot-apply does not manage already ({managed} it does)" if managed else ""),
                hint="--include-managed exports the managed ones too" if managed else
                "check --name-ilike (SQL ILIKE: % and _), --status and --id; `chariot-apply status --all` "
                "lists what there is")
        bound = Bounded(32)
        used = sorted({r.blueprint_id for r in runs if r.blueprint_id})
        found = await bound.all(client.get_blueprint(i) for i in used)
    blueprints = {b.id: ResolvedBlueprint.of(b) for b in found}
    return Exported(*export_manifests(runs, dict(index.names), blueprints))


def read_by_plans(manifest_paths: Sequence[str], directory: Path) -> bool:
    """Whether a manifest file written into ``directory`` is one the manifest paths (folders or globs) take in."""
    target = directory.resolve()
    for listed in manifest_paths:
        if any(c in listed for c in "*?["):
            if fnmatch.fnmatch(str(target / "x.yaml"), str(Path(listed).absolute())):
                return True
        elif target.is_relative_to(Path(listed).resolve()) and not Path(listed).is_file():
            return True
    return False


def write_exported(documents: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    """One file per project (``<project>.yaml``, the name made safe), documents in address order."""
    directory.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Mapping[str, Any]]] = {}
    for document in documents:
        by_project.setdefault(document["metadata"]["project"], []).append(document)
    return [write_inside(directory, safe_file_name(project, ".yaml"),
                         yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True))
            for project, docs in sorted(by_project.items())]


def check_plan_target(plan_: Plan, workspace: Workspace) -> None:
    """A saved plan is applied to the Chariot, and as the owner, it was made for; nowhere else."""
    if plan_.target is not None and plan_.target.server != workspace.connection.server_name:
        raise UserError(f"this plan was made for {plan_.target.server}, not {workspace.connection.server_name}",
                        hint="apply it with the same CHARIOT_URL it was planned with, or plan again here")
    if plan_.options.owner != workspace.project.owner:
        raise UserError(f"this plan was made for owner {plan_.options.owner!r}, not {workspace.project.owner!r}",
                        hint="apply it with the same owner (--owner, CHARIOT_APPLY_OWNER, the project file)")


def load_saved_plan(path: Path) -> Plan:
    """A plan saved by ``plan --out``; a manifest or directory given in its place is told to go to ``-f``."""
    use_f = f"to apply manifests, pass them with -f: chariot-apply apply -f {path}"
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a saved plan", hint=use_f)
    if not path.is_file():
        raise UserError(f"no saved plan at {path}", hint="make one with `chariot-apply plan --out FILE`")
    if path.suffix.lower() in (".yaml", ".yml"):
        raise UserError(f"{path} is a manifest, not a saved plan", hint=use_f)
    document = read_plan(path)
    if document.redacted:
        raise UserError(f"{path} is a redacted plan (from --format json): it cannot be applied",
                        hint="save plans to apply with `chariot-apply plan --out FILE`")
    return document.plan


async def status(workspace: Workspace, projects: Iterable[str]) -> StatusDocument:
    """Every run we own in ``projects``, with progress, last event and latest metrics."""
    async with workspace.client() as client:
        runs, names = await _managed(client, workspace.project.owner, projects, workspace.project.adopted)
        views = await run_views(client, runs, names)
    return status_document(views, workspace.project.owner, projects, datetime.now(UTC),
                           sweep_metrics(workspace.manifests()) if workspace.paths else {})


async def watch(workspace: Workspace, projects: Iterable[str], interval: float,
                show: Callable[[StatusDocument], None]) -> None:
    """``status`` again and again, each shown, until every run has finished (or the caller is interrupted)."""
    projects = list(projects)
    while True:
        document = await status(workspace, projects)
        show(document)
        if all(line.status in FINISHED_STATUSES for line in document.runs):
            return
        await asyncio.sleep(interval)


async def events(workspace: Workspace, address: str, *, follow: bool, interval: float,
                 show: Callable[[Event], None]) -> None:
    async with workspace.client() as client:
        run = await find_run(client, address, workspace.project.owner, workspace.project.adopted)
        if follow:
            async for event in follow_events(client, run.id or "", interval):
                show(event)
        else:
            for event in await events_of(client, run.id or ""):
                show(event)


async def metrics(workspace: Workspace, address: str, tags: Sequence[str] = ()) -> list[Metric]:
    """Every metric of the run at ``address`` (``get_all_metrics``); a tag asked for that the run does not
    report is an error with the tags it does (not an empty table)."""
    async with workspace.client() as client:
        run = await find_run(client, address, workspace.project.owner, workspace.project.adopted)
        found = await client.get_all_metrics(run.id or "")
    reported = sorted({m.tag for m in found})
    for tag in tags:
        if tag not in reported:
            raise UserError(f"{address} reports no metric tag {tag!r}",
                            hint=did_you_mean(tag, reported) + (f" (its tags: {', '.join(reported[:12])})"
                                                                if reported else ""))
    return found


async def wait(workspace: Workspace, run_ids: Sequence[str], until: Until, timeout: float, interval: float,
               on_poll: Callable[[Sequence[Run]], None]) -> Waited:
    async with workspace.client() as client:
        return await wait_for(client, run_ids, until, timeout, interval, on_poll)


async def _managed(client: Backend, owner: str, projects: Iterable[str],
                   adopted: Iterable[str]) -> tuple[list[Run], dict[str, str]]:
    projects = sorted(set(projects))
    index = ProjectIndex.of(await client.find_projects(projects))
    wanted = sorted({index.ids[p] for p in projects if p in index.ids})
    runs = [r async for r in client.iter_runs(project_ids=wanted, page_size=1000)] if wanted else []
    adopted_ids = frozenset(adopted)
    return [r for r in runs if is_owned(r.notes, r.id, owner, adopted_ids)], dict(index.names)


ADOPT_HINT = "give the address shown in the plan's conflict"


async def find_unowned(workspace: Workspace, address: str) -> Run:
    """The single run at ``project/name@version`` (for ``adopt``)."""
    async with workspace.client() as client:
        runs = await runs_at_address(client, address, ADOPT_HINT)
    if len(runs) != 1:
        raise UserError(f"expected exactly one run at {address}, found {len(runs)}", hint=ADOPT_HINT)
    return runs[0]


async def adopt(workspace: Workspace, project_file: Path, address: str) -> Run:
    """Take the single run at ``address`` under management: its id is recorded in ``project_file``."""
    run = await find_unowned(workspace, address)
    add_adopted(project_file, run.id or "")
    return run


@dataclass(frozen=True)
class Imported:
    exported: Exported
    paths: list[Path]  # the manifest files written
    adopted: list[str]  # ids of the runs newly recorded as ours


async def import_runs(workspace: Workspace, project_file: Path, directory: Path, project: str, *,
                      name_ilikes: Sequence[str] = (), statuses: Sequence[str] = (),
                      ids: Sequence[str] = ()) -> Imported:
    """Export the runs, write their manifests into ``directory``, and adopt those we do not own yet.

    ``directory`` must be one the plans read: a run adopted where no plan looks would be planned for deletion by
    the next ``plan --prune``."""
    if not read_by_plans(workspace.paths, directory):
        listed = ", ".join(workspace.paths) or "none"
        raise UserError(f"{directory} is not among the manifests the plans read ({listed})",
                        hint="import into a folder under one of them (e.g. -o runs/imported), or list it under "
                             "`manifests:` in the project file first; a run adopted where no plan looks would be "
                             "deleted by the next `plan --prune`")
    exported = await export(workspace, project, name_ilikes=name_ilikes, statuses=statuses, ids=ids)
    paths = write_exported(exported.documents, directory)
    owner, adopted_before = workspace.project.owner, workspace.project.adopted
    adopted = [r.id for r in exported.runs if r.id and not is_owned(r.notes, r.id, owner, adopted_before)]
    for run_id in adopted:
        add_adopted(project_file, run_id)
    return Imported(exported, paths, adopted)
