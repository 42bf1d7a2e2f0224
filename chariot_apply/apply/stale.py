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
            stale.append(f"{seen.address}: {_what_changed(seen, current)}")
    return stale


def _all_made_by(request: RunRequest, runs: list[Run]) -> bool:
    _, wanted = parse_notes(request.notes)
    return wanted is not None and all(wanted.same_run(parse_notes(r.notes)[1]) for r in runs)


def _what_changed(seen: Observed, current: Observed) -> str:
    """What happened at the address since the plan: each run that went, came or moved, said once (``run 1a2b…
    (finished) was deleted; run 3c4d… (active) was created``)."""
    before, after = {r.id: r for r in seen.runs}, {r.id: r for r in current.runs}
    said = [f"run {i[:8]}… ({before[i].phase}) was deleted" for i in before if i not in after]
    said += [f"run {i[:8]}… ({after[i].phase}) was created" for i in after if i not in before]
    said += [f"run {i[:8]}… went from {before[i].phase} to {after[i].phase}" for i in before
             if i in after and before[i].phase != after[i].phase]
    said += [f"run {i[:8]}… is now owned by {after[i].owner or 'no one'}" for i in before
             if i in after and before[i].owner != after[i].owner]
    return "; ".join(said) + " since the plan was made"
