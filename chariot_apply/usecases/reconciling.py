"""``reconcile`` (what the reviewed manifests' rules call for now, and nothing else), and ``apply --wait``, which
reconciles until the runs that wait on others are created."""


from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chariot_apply.apply.executor import ApplyResult, Outcome, Reporter
from chariot_apply.chariot.models import Run
from chariot_apply.plan.model import Plan, PlanOptions
from chariot_apply.usecases.applying import apply
from chariot_apply.usecases.planning import plan
from chariot_apply.usecases.watching import (
    Until,
    Waited,
    wait,
)
from chariot_apply.workspace.project import Workspace


@dataclass(frozen=True)
class Reconciled:
    """What ``reconcile`` did: the plan it made, the outcome of its lifecycle actions, and whether another writer
    held the writers' lock of this Chariot and owner (then it did nothing: the next reconcile carries on)."""

    plan: Plan
    result: ApplyResult
    busy: bool = False


async def reconcile(workspace: Workspace, options: PlanOptions, reporter: Reporter, *, locked: bool = False,
                    concurrency: int = 16) -> Reconciled:
    """Plan, then carry out only the lifecycle actions (limits, retries, promotions, retention, creates after
    what they depend on): what the reviewed manifests call for now. Declared drift is reported, never applied."""
    if not workspace.writer.try_acquire():  # another writer to this Chariot as this owner: it carries on
        return Reconciled(Plan(options=options, items=()), ApplyResult(()), busy=True)
    try:
        made = await plan(workspace, options, locked=locked)
        lifecycle = made.only_lifecycle()
        result = await apply(workspace, lifecycle, reporter, check_stale=False, concurrency=concurrency) \
            if lifecycle.has_changes else ApplyResult(())
        return Reconciled(made, result)
    finally:
        workspace.writer.release()


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



