"""Refuse a saved plan whose runs changed since it was made."""

from __future__ import annotations

from chariot_apply.chariot.backend import Backend
from chariot_apply.chariot.models import Run
from chariot_apply.plan.context import live_ref
from chariot_apply.plan.fetch import runs_named
from chariot_apply.plan.live import runs_by_address
from chariot_apply.plan.model import Create, Observed, Plan, RunRequest
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.runtime.concurrency import Bounded


async def stale_addresses(client: Backend, plan: Plan, bound: Bounded | None = None) -> list[str]:
    """Addresses the plan changes whose live runs differ now from what the plan saw (empty: fresh).

    A create whose address now holds only our run of the same spec is not stale but done (the same plan
    applied twice, or by two applies at once): the executor reports it as already there."""
    done = {c.address: c.run for c in plan.changes if isinstance(c, Create)}
    touched = {c.address for c in plan.changes}
    observed = [o for o in plan.observed if o.address in touched]
    if not observed:
        return []
    runs = await runs_named(client, {o.name for o in observed}, bound or Bounded(32))
    now = runs_by_address(runs)
    stale = []
    for seen in observed:
        current = Observed(address=seen.address, project_id=seen.project_id, name=seen.name, version=seen.version,
                           runs=tuple(live_ref(r) for r in now.get((seen.project_id, seen.name, seen.version), ())))
        request = done.get(seen.address)
        if request is not None and current.runs and _all_made_by(request, now[(seen.project_id, seen.name,
                                                                               seen.version)]):
            continue
        if current.fingerprint() != seen.fingerprint():
            stale.append(f"{seen.address}: {_describe(seen)} when planned, {_describe(current)} now")
    return stale


def _all_made_by(request: RunRequest, runs: list[Run]) -> bool:
    _, wanted = parse_notes(request.notes)
    return wanted is not None and all(wanted.same_run(parse_notes(r.notes)[1]) for r in runs)


def _describe(observed: Observed) -> str:
    if not observed.runs:
        return "no run"
    return ", ".join(f"run {r.id[:8]}… {r.phase}" for r in observed.runs)
