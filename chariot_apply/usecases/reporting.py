"""``report``: what the declared runs came to, read from Chariot and built by ``reports.results``."""


from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from chariot_apply.chariot.models import Event, Metric, Run
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.context import address
from chariot_apply.plan.fetch import PLAN_CONCURRENCY, fetch_live_state
from chariot_apply.plan.live import LiveState, runs_by_address
from chariot_apply.plan.live_secrets import scrubbed_event, scrubbed_metrics, scrubbed_run, scrubber
from chariot_apply.plan.model import PlanOptions
from chariot_apply.plan.ownership import is_owned
from chariot_apply.plan.selectors import selected
from chariot_apply.reports.results import Report, build_report, parse_rank_by
from chariot_apply.runtime.concurrency import Bounded
from chariot_apply.workspace.project import Workspace


async def report(workspace: Workspace, targets: Sequence[str] = (), excludes: Sequence[str] = (),
                 rank_by: str | None = None) -> Report:
    """The results of the declared runs (those ``targets`` select): each one's newest run of ours, its metrics and
    last event, and the models made from them."""
    ranking = parse_rank_by(rank_by)  # a mistake in it is said before anything is asked
    declared = workspace.manifests()
    options = workspace.plan_options(targets=tuple(targets), excludes=tuple(excludes))
    owner, adopted = workspace.project.owner, frozenset(workspace.project.adopted)
    async with workspace.client() as client:
        bound = Bounded(PLAN_CONCURRENCY)
        live = await fetch_live_state(client, declared, adopted=adopted, bound=bound, everything=False)
        chosen, addresses, current = _current_runs(declared, live, options, owner, adopted)
        if targets and not chosen:
            raise UserError(f"--target {', '.join(targets)} matches no declared run",
                            hint="give an address as project/name@version (globs allowed)", code=codes.NO_MATCH)
        ids = sorted(r.id for r in current.values() if r.id)
        metrics = await bound.all(client.get_all_metrics(i) for i in ids)
        events = await bound.all(client.get_events(i, limit=1, sort=["sequence:desc"]) for i in ids)
        projects = sorted({r.project_id for r in current.values() if r.project_id})
        models = await client.get_models(project_ids=projects) if client.lists_models and projects else []
        sources = sorted({m.checkpoint_id for m in models if m.checkpoint_id})
        checkpoints = await client.get_checkpoints(ids=sources, limit=1000) if sources else []
        now = client.server_now() or datetime.now(UTC)
    _reported(ranking, metrics)
    current, by_run, last = _scrubbed(current, dict(zip(ids, metrics, strict=True)),
                                      {i: e[0] for i, e in zip(ids, events, strict=True) if e})
    return build_report(owner, chosen, addresses, current, by_run, last, models, now,
                        ranking, {c.id: c.global_step for c in checkpoints
                                                 if c.id and c.global_step is not None})


def _reported(ranking: tuple[str, str] | None, metrics: Sequence[Sequence[Metric]]) -> None:
    """A ranking by a tag no run reports would rank nothing: said, with the tags there are."""
    reported = {m.tag for series in metrics for m in series}
    if ranking is not None and reported and ranking[0] not in reported:
        raise UserError(f"--rank-by {ranking[0]!r}: no declared run reports that metric", code=codes.NO_MATCH,
                        hint=did_you_mean(ranking[0], reported, listed=12))


def _scrubbed(current: dict[str, Run], metrics: dict[str, list[Metric]], events: dict[str, Event]) -> tuple[
        dict[str, Run], dict[str, list[Metric]], dict[str, Event]]:
    """What the server said of each run, scrubbed of that run's secrets (tags, event details, notes)."""
    cleans = {r.id: scrubber(r) for r in current.values() if r.id}
    return ({address: scrubbed_run(r, cleans[r.id]) if r.id else r for address, r in current.items()},
            {i: scrubbed_metrics(m, cleans[i]) for i, m in metrics.items()},
            {i: scrubbed_event(e, cleans[i]) for i, e in events.items()})


def _current_runs(declared: Sequence[DeclaredRun], live: LiveState, options: PlanOptions, owner: str,
                  adopted: frozenset[str]) -> tuple[list[DeclaredRun], dict[int, str], dict[str, Run]]:
    """The declared runs the options select, their addresses by index, and the run of ours at each address: the
    one alive, else the newest failed attempt."""
    at = runs_by_address(live.runs)
    chosen: list[DeclaredRun] = []
    addresses: dict[int, str] = {}
    current: dict[str, Run] = {}
    for run in declared:
        project_id = live.project_ids.get(run.project) or ""
        addr = address(live.project_names.get(project_id, run.project), run.name, run.version)
        if not selected(addr, options):
            continue
        addresses[len(chosen)] = addr
        chosen.append(run)
        ours = [r for r in at.get((project_id, run.name, run.version), []) if is_owned(r.notes, r.id, owner, adopted)]
        alive = [r for r in ours if r.status != "job_failed"]
        if ours:
            current[addr] = alive[0] if alive else ours[-1]
    return chosen, addresses, current
