"""Refuse a saved plan whose runs changed since it was made."""

from __future__ import annotations

from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.plan.diff import live_ref
from chariot_apply.plan.fetch import Bounded, runs_named
from chariot_apply.plan.live import runs_by_address
from chariot_apply.plan.model import Observed, Plan


async def stale_addresses(client: AsyncChariotClient, plan: Plan, bound: Bounded | None = None) -> list[str]:
    """Addresses the plan changes whose live runs differ now from what the plan saw (empty: fresh)."""
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
        if current.fingerprint() != seen.fingerprint():
            stale.append(f"{seen.address}: {_describe(seen)} when planned, {_describe(current)} now")
    return stale


def _describe(observed: Observed) -> str:
    if not observed.runs:
        return "no run"
    return ", ".join(f"run {r.id[:8]}… {r.phase}" for r in observed.runs)
