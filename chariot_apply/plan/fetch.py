"""The fetch phase: gather live state with few requests, concurrently, then let the pure diff decide.

Wave 1 (concurrent): projects, one lookup per distinct (blueprint name, pattern), every version of
the blueprints named; then every run of the projects the manifests name, page by page (the owned runs no
manifest declares any more are shown in every plan, not only with ``--prune``).
Wave 2: ``validate_run_config`` for the runs that will be created or replaced, each distinct
(blueprint, config) once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence, Set
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.errors import (
    BlueprintDoesNotExistError,
    ChariotError,
    ConfigError,
    NotFoundError,
    ValidationError,
)
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import ACTIVE_STATUSES, Blueprint, Event, Model, Run, RunSummary
from chariot_apply.diagnostics import hints
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.diff import build_plan, unknown_config_keys
from chariot_apply.plan.harvest import MODEL_MARKER, Harvest
from chariot_apply.plan.identity import validation_key
from chariot_apply.plan.live import (
    BlueprintKey,
    LiveState,
    ProjectIndex,
    ResolvedBlueprint,
    RunKey,
    Validation,
    ValidationKey,
    run_key,
    still_pending,
)
from chariot_apply.plan.live_secrets import scrubbed_event, scrubber
from chariot_apply.plan.model import BlockedReplace, Create, Plan, PlanOptions, Replace
from chariot_apply.plan.needs import Need, WrittenKey, harvest_needs
from chariot_apply.runtime.concurrency import Bounded, settled

NAME_BATCH = 100
PAGE_SIZE = 1000
T = TypeVar("T")


#: Requests a plan keeps in flight (the CLI's and the Action's).
PLAN_CONCURRENCY = 32


async def make_plan(client: Backend, declared: Sequence[DeclaredRun], options: PlanOptions, *,
                    adopted: Iterable[str] = (), concurrency: int = PLAN_CONCURRENCY,
                    locked: Mapping[BlueprintKey, str] | None = None,
                    pending_models: Mapping[tuple[str, str, str], datetime] | None = None) -> Plan:
    """``live_and_plan``, for callers that need only the plan."""
    return (await live_and_plan(client, declared, options, adopted=adopted, concurrency=concurrency,
                                locked=locked, pending_models=pending_models))[1]


async def live_and_plan(client: Backend, declared: Sequence[DeclaredRun], options: PlanOptions, *,
                        adopted: Iterable[str] = (), concurrency: int = PLAN_CONCURRENCY,
                        locked: Mapping[BlueprintKey, str] | None = None,
                        pending_models: Mapping[tuple[str, str, str], datetime] | None = None,
                        ) -> tuple[LiveState, Plan]:
    """Read the live state and plan. Configs are validated while the projects are still being listed (those of
    every declared run, as far as time allows), then whatever the draft plan still needs. ``pending_models``:
    model creates an earlier apply could not confirm, with when they were sent (``workspace.pending_models``):
    not promoted again while they may still commit, by the server's time."""
    bound = Bounded(concurrency)
    validations = Validations(client, bound)
    try:
        live = await fetch_live_state(client, declared, adopted=adopted, bound=bound, locked=locked,
                                      meanwhile=validations, settle=False, everything=options.prune)
        waiting = still_pending(dict(pending_models or {}), live.now or datetime.now(UTC))
        live = dataclasses.replace(live, pending_models=frozenset(waiting))
        return live, await plan_validated(client, declared, live, options, bound, validations)
    finally:  # the pages asked past the end came back while the plan was being made
        await bound.settle_detached()


async def plan_validated(client: Backend, declared: Sequence[DeclaredRun], live: LiveState,
                         options: PlanOptions, bound: Bounded, validations: Validations | None = None) -> Plan:
    """The plan for ``live``, with the configs of the runs it creates or replaces validated on the server."""
    draft = build_plan(declared, live, options)
    keys = {validation_key(i.run.blueprint_id, i.run.config) for i in draft.items
            if isinstance(i, Create | Replace | BlockedReplace) and i.run is not None}
    validation = await (validations or Validations(client, bound)).of(keys)
    if not any(validation.values()) and not any(unknown_config_keys(r, live, options)[1] for r in declared):
        return draft  # every config is valid (and no key is an error): the draft is the plan
    return build_plan(declared, live, options, validation)


class Validations:
    """Each (blueprint id, config) validated at most once in a plan: some before the plan knows it needs them
    (``meanwhile``, while the listing is under way), the rest when the draft plan names them (``of``)."""

    def __init__(self, client: Backend, bound: Bounded) -> None:
        self._client, self._bound = client, bound
        self._known: dict[ValidationKey, tuple[ConfigError, ...]] = {}

    async def _validate(self, key: ValidationKey) -> tuple[ConfigError, ...]:
        try:
            await self._client.validate_run_config(blueprint_id=key[0], config=json.loads(key[1]))
        except ValidationError as exc:  # a refusal that names no path is still a refusal: at the config
            return tuple(exc.errors) or (ConfigError("$", exc.message),)
        return ()

    async def meanwhile(self, keys: Sequence[ValidationKey], until: asyncio.Future[Any], width: int) -> None:
        """Validate ``keys`` in order, ``width`` at a time, starting none once ``until`` is done: requests that
        would otherwise wait for the listing, and at most ``width`` in flight when it ends."""
        queue = iter(keys)

        async def worker() -> None:
            for key in queue:
                if until.done():
                    return
                if key not in self._known:
                    # A guess: if the plan needs this config after all, ``of`` asks again and reports the failure.
                    with contextlib.suppress(ChariotError):
                        self._known[key] = await self._bound(self._validate(key))

        await asyncio.gather(*(worker() for _ in range(width)))

    async def of(self, keys: Iterable[ValidationKey]) -> Validation:
        wanted = sorted(set(keys))
        missing = [k for k in wanted if k not in self._known]
        self._known.update(zip(missing, await self._bound.all(self._validate(k) for k in missing), strict=True))
        return {k: self._known[k] for k in wanted}


async def fetch_live_state(client: Backend, declared: Sequence[DeclaredRun], *,
                           adopted: Iterable[str] = (), bound: Bounded | None = None,
                           locked: Mapping[BlueprintKey, str] | None = None,
                           meanwhile: Validations | None = None, settle: bool = True,
                           everything: bool = True) -> LiveState:
    """Everything a plan reads. With ``meanwhile``, the declared configs are validated while the projects are
    listed (their blueprints are known after one round trip; a large listing takes several). Without ``settle``,
    the caller waits for ``bound``'s detached requests (``Bounded.settle_detached``) before closing the client.
    ``everything``: every run of the involved projects (``--prune``); else only what can need action."""
    bound = bound or Bounded(PLAN_CONCURRENCY)
    try:
        return await _fetch_live_state(client, declared, adopted, bound, locked, meanwhile, everything)
    finally:
        if settle:
            await bound.settle_detached()


async def _fetch_live_state(client: Backend, declared: Sequence[DeclaredRun], adopted: Iterable[str],
                            bound: Bounded, locked: Mapping[BlueprintKey, str] | None,
                            meanwhile: Validations | None, everything: bool) -> LiveState:
    names = sorted({r.spec.blueprint.name for r in declared})
    known_projects: list[str] = []
    listing = asyncio.ensure_future(_involved_runs(client, declared, bound, everything, known_projects))
    resolving = asyncio.ensure_future(_blueprints(client, declared, locked or {}, bound))
    versions_task = bound(client.get_blueprints(names=names, limit=PAGE_SIZE)) if names else _nothing()
    wants_gpus = any(r.spec.resources.gpu is not None for r in declared if r.spec.state == "running")
    gpus_task = bound(client.get_available_system_gpus()) if wants_gpus else _nothing()
    (index, involved, runs, elsewhere), (lookups, resolved, newer), versions, gpus, _ = await settled(
        listing, resolving, versions_task, gpus_task, _validate_meanwhile(declared, meanwhile, resolving, listing,
                                                                         bound))
    listed = frozenset(involved)  # every run of these was listed, or every active one
    by_id = await _blueprints_by_id(client, versions or [], lookups, [*runs, *elsewhere], bound)
    (harvest, models), last_events = await settled(_harvest(client, declared, runs, index.ids, bound),
                                                   _last_events(client, declared, runs, bound))
    champions = await _champions(client, declared, models or (), index.ids, bound)
    now = client.server_now() or datetime.now(UTC)
    by_id |= {b.id: b for b in resolved.values() if isinstance(b, ResolvedBlueprint)}
    return LiveState(project_ids=index.ids, project_names=index.names, blueprints=resolved,
                     blueprints_by_id=by_id, runs=tuple(runs), complete_projects=listed if everything else frozenset(),
                     last_events=last_events, champions=champions,
                     active_projects=listed, elsewhere=tuple(elsewhere),
                     adopted=frozenset(adopted), newer=newer, harvest=harvest, models=models,
                     gpu_types=frozenset(g.type for g in gpus) if gpus is not None else None,
                     known_projects=tuple(known_projects), now=now)


async def _involved_runs(client: Backend, declared: Sequence[DeclaredRun], bound: Bounded, everything: bool,
                         known_projects: list[str]) -> tuple[ProjectIndex, list[str], list[Run], list[RunSummary]]:
    """The runs at the declared addresses, whole; and, as summaries, those elsewhere in the projects the manifests
    name: the owned runs no manifest declares any more are shown (and deleted with --prune) only if they are seen.
    With ``everything``, every one of them; else the active ones (a finished run no manifest declares needs no
    action), so that a plan's cost follows what is declared and running, not the projects' whole history. Where a
    declared project does not exist, ``known_projects`` gets the names there are, for its hint."""
    index = ProjectIndex.of(await bound(client.find_projects(sorted({r.project for r in declared}))))
    if any(r.project not in index.ids for r in declared):
        with contextlib.suppress(ChariotError):
            known_projects.extend(p.name for p in await bound(client.get_projects()))
    involved = sorted({index.ids[r.project] for r in declared if r.project in index.ids})
    addresses = {(index.ids[r.project], r.name, r.version) for r in declared if r.project in index.ids}
    statuses = None if everything else ACTIVE_STATUSES
    whole, *listings = await settled(runs_at_addresses(client, involved, addresses, bound),
                                     *(list_project(client, p, bound, statuses=statuses) for p in involved))
    elsewhere = {r.id: r for listing in listings for r in listing if run_key(r) not in addresses}
    return index, involved, whole, list(elsewhere.values())


Lookups = list[tuple[BlueprintKey, ResolvedBlueprint | str]]


async def _blueprints(client: Backend, declared: Sequence[DeclaredRun], locked: Mapping[BlueprintKey, str],
                      bound: Bounded) -> tuple[Lookups, dict[BlueprintKey, ResolvedBlueprint | str],
                                               dict[BlueprintKey, ResolvedBlueprint]]:
    """The look-ups, and what each declared pair resolves to through the lock (and what is newer)."""
    keys = sorted({(r.spec.blueprint.name, r.spec.blueprint.version) for r in declared if r.spec.state == "running"},
                  key=lambda k: (k[0], k[1] or ""))
    lookups, pinned = await settled(bound.all(_resolve(client, key) for key in keys),
                                    bound.all(_blueprint_by_id(client, i) for i in sorted(set(locked.values()))))
    return (lookups, *_apply_lock(dict(lookups), locked, {b.id: b for b in pinned if b is not None}))


async def _validate_meanwhile(declared: Sequence[DeclaredRun], meanwhile: Validations | None,
                              resolving: asyncio.Future[tuple[Lookups, dict[BlueprintKey, ResolvedBlueprint | str],
                                                              dict[BlueprintKey, ResolvedBlueprint]]],
                              listing: asyncio.Future[Any], bound: Bounded) -> None:
    """The declared configs validated while the projects are listed, once their blueprints are known."""
    if meanwhile is None:
        return
    _, resolved, _ = await resolving
    wanted = sorted({validation_key(b.id, r.spec.config) for r in declared if r.spec.state == "running"
                     and isinstance(b := resolved.get((r.spec.blueprint.name, r.spec.blueprint.version)),
                                    ResolvedBlueprint)})
    # Leave room for a wave of pages: the listing is what the plan waits for.
    await meanwhile.meanwhile(wanted, until=listing, width=max(1, bound.limit - MAX_PAGES_AT_ONCE))


async def _blueprints_by_id(client: Backend, versions: Sequence[Blueprint], lookups: Lookups,
                            runs: Sequence[Run | RunSummary], bound: Bounded) -> dict[str, ResolvedBlueprint]:
    """Every blueprint a plan speaks of, by id: the versions of the declared names, what the look-ups found, and
    those the live runs use (read by id where neither said them)."""
    by_id = {b.id: ResolvedBlueprint.of(b) for b in versions}
    by_id |= {r.id: r for _, r in lookups if isinstance(r, ResolvedBlueprint)}
    missing = sorted({r.blueprint_id for r in runs if r.blueprint_id and r.blueprint_id not in by_id})
    for found in await bound.all(_blueprint_by_id(client, i) for i in missing):
        if found is not None:
            by_id[found.id] = found
    return by_id


async def _harvest(client: Backend, declared: Sequence[DeclaredRun], runs: Sequence[Run],
                   project_ids: Mapping[str, str], bound: Bounded,
                   ) -> tuple[dict[str, Harvest], tuple[Model, ...] | None]:
    """Checkpoints (and, for a choice by metric, metrics) of the live runs whose checkpoints something declared
    uses: their own promotions and retention, a retry that resumes from a failed attempt, a ``${run:...}``
    reference from another run; and the models of the projects involved (None: the backend cannot list them).
    Nothing is asked when no manifest declares any of these."""
    needs = harvest_needs(declared)
    if not needs:
        return {}, ()
    targets = _harvest_targets(runs, needs, project_ids)
    by_metric = sorted(run_id for run_id, need in targets.items() if need.metrics)
    projects = _model_projects(declared, needs, project_ids)
    checkpoints_task = bound(client.get_checkpoints(run_ids=list(targets), limit=PAGE_SIZE)) \
        if targets else _nothing()
    metrics_task = bound.all(client.get_all_metrics(i) for i in by_metric)
    models_task = bound(client.get_models(project_ids=sorted(projects))) \
        if client.lists_models and projects else _nothing()
    checkpoints, metrics, models = await settled(checkpoints_task, metrics_task, models_task)
    values = {run_id: {(m.global_step, m.tag): m.value for m in found}
              for run_id, found in zip(by_metric, metrics, strict=True)}
    harvest = {run_id: Harvest(tuple(c for c in checkpoints or [] if c.run_id == run_id), values.get(run_id, {}))
               for run_id in targets}
    if not projects:
        return harvest, ()
    return harvest, tuple(models) if models is not None else None


def _wanted_champions(declared: Sequence[DeclaredRun], models: Sequence[Model],
                      project_ids: Mapping[str, str]) -> dict[tuple[str, str], Model | None]:
    """(champion NAME@VERSION, metric) of every ``require.betterThan``, and its model where there is one."""
    wanted: dict[tuple[str, str], Model | None] = {}
    for run in declared:
        for promotion in run.promotions if run.spec.state == "running" else ():
            required = promotion.required()
            if required is None or promotion.require is None or promotion.require.better_than is None:
                continue
            name, _, version = promotion.require.better_than.model.partition("@")
            project = project_ids.get(promotion.model.project or run.project)
            wanted[(promotion.require.better_than.model, required[0])] = next(
                (m for m in models if (m.project_id, m.name, m.version) == (project, name, version)), None)
    return wanted


async def _champion_value(client: Backend, model: Model | None, metric: str, bound: Bounded) -> float | None:
    """The champion model's value of ``metric``: at its checkpoint's step, in the run its marker names."""
    marker = MODEL_MARKER.search(model.summary or "") if model is not None else None
    if model is None or marker is None or not model.checkpoint_id:
        return None
    checkpoints, metrics = await settled(bound(client.get_checkpoints(ids=[model.checkpoint_id], limit=1)),
                                         bound(client.get_all_metrics(marker["run"])))
    step = checkpoints[0].global_step if checkpoints else None
    values = [m.value for m in metrics if m.tag == metric and m.global_step == step and m.value is not None]
    return float(values[-1]) if values else None


async def _champions(client: Backend, declared: Sequence[DeclaredRun], models: Sequence[Model],
                     project_ids: Mapping[str, str], bound: Bounded) -> dict[tuple[str, str], float | None]:
    """The value each champion a promotion must beat (``require.betterThan``) has (two requests a champion; none
    when no promotion names one)."""
    wanted = _wanted_champions(declared, models, project_ids)
    # Each value is two requests, each through ``bound``: the values themselves are not bounded (no slot waits on
    # another's).
    found = await asyncio.gather(*(_champion_value(client, model, metric, bound)
                                   for (_, metric), model in wanted.items()))
    return dict(zip(wanted, found, strict=True))


async def _last_events(client: Backend, declared: Sequence[DeclaredRun], runs: Sequence[Run],
                       bound: Bounded) -> dict[str, Event]:
    """The last event of each failed run at an address whose manifest retries failures (its cause is read from it,
    ``plan.causes``), scrubbed of the run's secrets: one request a failed attempt, none when nothing failed."""
    retried = {(r.name, r.version) for r in declared
               if r.spec.state == "running" and r.spec.on_failure.action == "recreate"}
    failed = [r for r in runs if r.id and r.status == "job_failed" and (r.name, r.version) in retried]
    found = await bound.all(client.get_events(r.id or "", limit=1, sort=["sequence:desc"]) for r in failed)
    return {r.id or "": scrubbed_event(events[0], scrubber(r)) for r, events in zip(failed, found, strict=True)
            if events}


def _harvest_targets(runs: Sequence[Run], needs: Mapping[WrittenKey, Need],
                     project_ids: Mapping[str, str]) -> dict[str, Need]:
    """The live runs to read checkpoints of, by id, with what else to read of each."""
    keys = {(project_ids.get(project, ""), name, version): need for (project, name, version), need in needs.items()}
    return {r.id: need for r in runs if r.id and (need := keys.get(run_key(r))) is not None
            and (not need.failed_only or r.status in ("job_failed", "job_terminated"))}


def _model_projects(declared: Sequence[DeclaredRun], needs: Mapping[WrittenKey, Need],
                    project_ids: Mapping[str, str]) -> set[str]:
    """The projects whose models a plan reads: where runs promote or keep checkpoints, and where they promote to."""
    projects = {project_ids[p] for (p, _, _), need in needs.items() if need.models and p in project_ids}
    projects |= {project_ids[p.model.project] for r in declared if r.spec.state == "running" for p in r.promotions
                 if p.model.project and p.model.project in project_ids}
    return projects


def _apply_lock(resolved: dict[BlueprintKey, ResolvedBlueprint | str], locked: Mapping[BlueprintKey, str],
                pinned: Mapping[str, ResolvedBlueprint]) -> tuple[dict[BlueprintKey, ResolvedBlueprint | str],
                                                                  dict[BlueprintKey, ResolvedBlueprint]]:
    """Locked keys use their locked blueprint; where the pattern now resolves to another, that one is newer."""
    newer: dict[BlueprintKey, ResolvedBlueprint] = {}
    for key, blueprint_id in locked.items():
        if key not in resolved:
            continue
        now = resolved[key]
        if blueprint_id in pinned:
            found = pinned[blueprint_id]
            # A backend that cannot describe a blueprint by id (the SDK) knows only that it exists.
            resolved[key] = found if found.described else replace(found, name=key[0])
            if isinstance(now, ResolvedBlueprint) and now.id != blueprint_id:
                newer[key] = now
        else:
            resolved[key] = (f"the locked blueprint {key[0]} (id {blueprint_id}) no longer exists; run "
                             f"{hints.LOCK_UPGRADE.cited(name=key[0])}")
    return resolved, newer


#: Pages of a large project in flight at once, at most: the first alone, then each page that comes back full
#: widens the window (1, 2, 4).
MAX_PAGES_AT_ONCE = 4  # more took no less time in the bench, and more memory (pages in flight)


async def list_project(client: Backend, project_id: str, bound: Bounded, page_size: int = PAGE_SIZE,
                       statuses: Sequence[str] | None = None) -> list[RunSummary]:
    """Every run of the project (in ``statuses``, if given) as a summary, by offset pages sorted by id, until one
    comes back short. A window of pages is in flight: each page that comes back full lets the next go at once,
    without waiting for the others of its round to be parsed. A run seen twice (a page that shifted under a
    create or a delete) counts once; a run missed that way is found by the look-up the apply makes before it
    creates anything. Pages still in flight past the end are left to ``bound`` (``Bounded.detach``). After a
    failure nothing new is asked for, and what is in flight ends before the failure is raised."""
    runs: dict[str, RunSummary] = {}
    in_flight: dict[asyncio.Future[list[RunSummary]], int] = {}  # each request's page number
    asked = 0
    window = 1
    end: int | None = None  # the first page that came back short: the last one that matters
    failures: list[BaseException] = []

    def ask_next() -> None:
        nonlocal asked
        request = client.get_run_summaries(project_ids=[project_id], sort=["id:asc"], limit=page_size,
                                           offset=asked * page_size,
                                           **({"statuses": list(statuses)} if statuses is not None else {}))
        in_flight[asyncio.ensure_future(bound(request))] = asked
        asked += 1

    ask_next()
    try:
        while in_flight:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for answer in done:
                number = in_flight.pop(answer)
                if end is not None and number > end:
                    if not answer.cancelled():
                        answer.exception()  # looked at, so that asyncio never reports it as "never retrieved"
                    continue  # past the end: whatever it says does not matter
                if answer.exception() is not None:
                    failures.append(cast(BaseException, answer.exception()))
                    continue
                page = answer.result()
                for run in page:
                    runs[run.id or ""] = run
                if len(page) < page_size:
                    end = number if end is None else min(end, number)
                window = min(2 * window, MAX_PAGES_AT_ONCE)
            if end is not None and all(number > end for number in in_flight.values()):
                bound.detach(in_flight)  # pages past the end: the plan goes on without waiting for them
                break
            while end is None and not failures and len(in_flight) < window:
                ask_next()
    except BaseException:  # cancelled (Ctrl-C): what is still in flight goes too
        for answer in in_flight:
            answer.cancel()
        raise
    if failures:
        raise failures[0]
    return list(runs.values())


async def _nothing() -> None:
    return None


async def _collect(iterator: AsyncIterator[Run]) -> list[Run]:
    return [run async for run in iterator]


async def _resolve(client: Backend, key: BlueprintKey) -> tuple[BlueprintKey, ResolvedBlueprint | str]:
    name, pattern = key
    try:
        return key, ResolvedBlueprint.of(await client.lookup_blueprint(name, pattern))
    except BlueprintDoesNotExistError as exc:
        return key, exc.message + await _blueprint_hint(client, name, pattern)


async def _blueprint_hint(client: Backend, name: str, pattern: str | None) -> str:
    """A refusal's did-you-mean, from the blueprints the server lists (only on this path: a typo's cost)."""
    try:
        listed = await client.get_blueprints(limit=PAGE_SIZE)
    except ChariotError:
        return ""
    versions = sorted({b.version for b in listed if b.name == name and b.version})
    if versions:
        return f" (its versions: {', '.join(versions[-8:])}; the pattern is SQL ILIKE, e.g. 2.%)"
    names = {b.name for b in listed}
    return f" ({did_you_mean(name, names)})" if names else ""


async def _blueprint_by_id(client: Backend, blueprint_id: str) -> ResolvedBlueprint | None:
    try:
        return ResolvedBlueprint.of(await client.get_blueprint(blueprint_id))
    except NotFoundError:
        return None


async def runs_at_addresses(client: Backend, project_ids: Sequence[str], addresses: Set[RunKey],
                            bound: Bounded) -> list[Run]:
    """Every run at ``addresses``: batches of exact names (and their versions) in the projects, all at once."""
    if not project_ids or not addresses:
        return []
    versions_of: dict[str, set[str]] = {}
    for _, name, version in addresses:
        versions_of.setdefault(name, set()).add(version)
    found = await runs_named(client, versions_of, bound, project_ids=project_ids, versions_of=versions_of)
    return [r for r in found if run_key(r) in addresses]


async def runs_named(client: Backend, wanted: Iterable[str], bound: Bounded, *,
                     project_ids: Sequence[str] | None = None,
                     versions_of: Mapping[str, Set[str]] | None = None) -> list[Run]:
    """Runs with exactly these names (in ``project_ids``, of the versions ``versions_of`` gives each name, where
    given; else filtered later): batched exact-name ILIKE filters, all at once."""
    names = sorted(set(wanted))
    batches = [names[i:i + NAME_BATCH] for i in range(0, len(names), NAME_BATCH)]

    def filters(batch: list[str]) -> dict[str, Any]:
        chosen: dict[str, Any] = {"name_ilikes": [escape_ilike(n) for n in batch]}
        if project_ids is not None:
            chosen["project_ids"] = list(project_ids)
        if versions_of is not None:
            chosen["versions"] = sorted({v for n in batch for v in versions_of[n]})
        return chosen

    pages = await bound.all(_collect(client.iter_runs(page_size=PAGE_SIZE, **filters(b))) for b in batches)
    exact = set(names)
    return [r for page in pages for r in page if r.name in exact]


