"""Watching what was declared: each managed run with its progress, last event and latest metrics; a run's
events and metrics; waiting for runs to reach a state. The client's reads, put together; no printing."""



from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.errors import RunDoesNotExistError
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import FINISHED_STATUSES, Event, Metric, Run
from chariot_apply.diagnostics import codes, hints
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.plan.live import (
    ProjectIndex,
    oldest_first,
)
from chariot_apply.plan.live_secrets import scrubbed_event, scrubbed_metrics, scrubbed_run, scrubber
from chariot_apply.plan.ownership import is_owned
from chariot_apply.render.status import StatusDocument, status_document
from chariot_apply.reports.results import sweep_metrics
from chariot_apply.reports.run_view import RunView
from chariot_apply.runtime.concurrency import Bounded
from chariot_apply.workspace.project import Workspace

FAILED_STATUSES = frozenset({"job_failed", "job_create_failed"})
#: The newest metrics a status reads of each run: enough for the last validation pass (a blueprint writes its many
#: tags at one step) and the training tags since, without reading a long run's whole history.
RECENT_METRICS = 200
Until = Literal["running", "finished"]


async def run_views(client: Backend, runs: Sequence[Run], names: dict[str, str],
                    bound: Bounded | None = None) -> list[RunView]:
    """Each run with its last event and the latest value of each metric tag among its newest metrics (two reads a
    run, in parallel). A
    run deleted since it was listed (another apply removing its duplicate, a user) is left out, not an error."""
    bound = bound or Bounded(16)

    async def view(run: Run) -> RunView | None:
        run_id, clean = run.id or "", scrubber(run)
        try:
            events = await client.get_events(run_id, limit=1, sort=["sequence:desc"])
            metrics = await client.get_metrics(run_id, limit=RECENT_METRICS) if run.progress else []
        except RunDoesNotExistError:
            return None
        return RunView(scrubbed_run(run, clean), names.get(run.project_id or "", run.project_id or "?"),
                       scrubbed_event(events[0], clean) if events else None,
                       latest_by_tag(scrubbed_metrics(metrics, clean)))

    return [v for v in await bound.all(view(r) for r in runs) if v is not None]


def latest_by_tag(metrics: Iterable[Metric]) -> dict[str, float | int | None]:
    latest: dict[str, Metric] = {}
    for metric in metrics:
        seen = latest.get(metric.tag)
        if seen is None or (metric.global_step, metric.created_at) > (seen.global_step, seen.created_at):
            latest[metric.tag] = metric
    return {tag: m.value for tag, m in sorted(latest.items())}


async def runs_at_address(client: Backend, address: str, hint: str) -> list[Run]:
    """Every run at ``project/name@version`` (the project by name or id); a malformed address or an unknown
    project is a ``UserError`` with ``hint``."""
    project, _, rest = address.partition("/")
    name, _, version = rest.rpartition("@")
    if not (project and name and version):
        raise UserError(f"{address!r} is not an address of the form project/name@version", hint=hint, code=codes.USAGE)
    project_id = ProjectIndex.of(await client.find_projects([project])).ids.get(project)
    if project_id is None:
        raise UserError(f"project {project!r} does not exist", hint=hint, code=codes.PROJECT_NOT_FOUND)
    return [r for r in await client.get_runs(project_ids=[project_id], name_ilikes=[escape_ilike(name)],
                                             versions=[version], limit=100) if r.name == name]


def current_attempt(ours: Sequence[Run]) -> Run:
    """Of our runs at an address (oldest first), the one a plan keeps as *the* run: the oldest that no newer run
    followed as a retry (a failed or stopped run with a newer one after it is an earlier attempt)."""
    for i, run in enumerate(ours):
        retried = run.status in ("job_failed", "job_terminated") and i + 1 < len(ours)
        if not retried:
            return run
    return ours[-1]


async def find_run(client: Backend, address: str, owner: str, adopted: Iterable[str] = (),
                   attempt: int | None = None) -> Run:
    """The run at ``project/name@version``: of ours, the current attempt (``current_attempt``; ``attempt``: the
    N-th, oldest first), else the only one."""
    runs = await runs_at_address(client, address, f"give the address as {hints.STATUS.cited()} shows it")
    adopted_ids = frozenset(adopted)
    ours = oldest_first(r for r in runs if is_owned(r.notes, r.id, owner, adopted_ids))
    if attempt is not None:
        if not 1 <= attempt <= len(ours):
            raise UserError(f"{address} has {len(ours)} attempt(s) of ours, not an attempt {attempt}",
                            hint=f"give --attempt 1 to {len(ours)} (1: the first)" if ours else
                            f"check the address with {hints.STATUS.cited()}", code=codes.NO_MATCH)
        return ours[attempt - 1]
    if ours:
        return current_attempt(ours)
    if len(runs) == 1:
        return runs[0]
    raise UserError(f"no run at {address}" if not runs else f"{len(runs)} runs at {address}, none of them ours",
                    hint=f"check the address with {hints.STATUS.cited()}", code=codes.NO_MATCH)


async def events_of(client: Backend, run_id: str, after: int = 0) -> list[Event]:
    """The run's events with a sequence above ``after``, in sequence order (page by page)."""
    found: list[Event] = []
    offset = after
    while True:
        page = await client.get_events(run_id, sort=["sequence:asc"], offset=offset, limit=100)
        found += [e for e in page if e.sequence > after]
        if len(page) < 100:
            return found
        offset += len(page)


async def follow_events(client: Backend, run_id: str, interval: float) -> AsyncIterator[Event]:
    """Every event of the run, then each new one as it comes, until the run has finished."""
    last = 0
    while True:
        for event in await events_of(client, run_id, last):
            last = event.sequence
            yield event
        run = await client.get_run(run_id, fields=["status"])
        if run.status in FINISHED_STATUSES:
            for event in await events_of(client, run_id, last):  # what came with the last status
                last = event.sequence
                yield event
            return
        await asyncio.sleep(interval)


def reached(status: str | None, until: Until) -> bool:
    if until == "running":
        return status == "job_running" or status in FINISHED_STATUSES
    return status in FINISHED_STATUSES


@dataclass(frozen=True)
class Waited:
    runs: tuple[Run, ...]
    timed_out: bool

    @property
    def failed(self) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.status in FAILED_STATUSES)


async def wait_for(client: Backend, run_ids: Sequence[str], until: Until, timeout: float,
                   interval: float, on_poll: Callable[[Sequence[Run]], None] = lambda runs: None) -> Waited:
    """Poll the runs until each has reached ``until`` (or failed), or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [r async for r in client.iter_runs(ids=list(run_ids), page_size=1000)] if run_ids else []
        on_poll(runs)
        if all(reached(r.status, until) or r.status in FAILED_STATUSES for r in runs):
            return Waited(tuple(runs), False)
        if time.monotonic() >= deadline:
            return Waited(tuple(runs), True)
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


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
                 show: Callable[[Event], None], attempt: int | None = None) -> None:
    async with workspace.client() as client:
        run = await find_run(client, address, workspace.project.owner, workspace.project.adopted, attempt)
        clean = scrubber(run)
        if follow:
            async for event in follow_events(client, run.id or "", interval):
                show(scrubbed_event(event, clean))
        else:
            for event in await events_of(client, run.id or ""):
                show(scrubbed_event(event, clean))


async def metrics(workspace: Workspace, address: str, tags: Sequence[str] = (),
                  attempt: int | None = None) -> list[Metric]:
    """Every metric of the run at ``address`` (``get_all_metrics``); a tag asked for that the run does not
    report is an error with the tags it does (not an empty table)."""
    async with workspace.client() as client:
        run = await find_run(client, address, workspace.project.owner, workspace.project.adopted, attempt)
        found = scrubbed_metrics(await client.get_all_metrics(run.id or ""), scrubber(run))
    reported = sorted({m.tag for m in found})
    for tag in tags:
        if tag not in reported:
            raise UserError(f"{address} reports no metric tag {tag!r}",
                            hint=did_you_mean(tag, reported) + (f" (its tags: {', '.join(reported[:12])})"
                                                                if reported else ""), code=codes.NO_MATCH)
    return found


async def _managed(client: Backend, owner: str, projects: Iterable[str],
                   adopted: Iterable[str]) -> tuple[list[Run], dict[str, str]]:
    projects = sorted(set(projects))
    index = ProjectIndex.of(await client.find_projects(projects))
    wanted = sorted({index.ids[p] for p in projects if p in index.ids})
    runs = [r async for r in client.iter_runs(project_ids=wanted, page_size=1000)] if wanted else []
    adopted_ids = frozenset(adopted)
    return [r for r in runs if is_owned(r.notes, r.id, owner, adopted_ids)], dict(index.names)




async def wait(workspace: Workspace, run_ids: Sequence[str], until: Until, timeout: float, interval: float,
               on_poll: Callable[[Sequence[Run]], None]) -> Waited:
    async with workspace.client() as client:
        return await wait_for(client, run_ids, until, timeout, interval, on_poll)


