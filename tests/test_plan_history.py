"""A plan's cost follows what is declared and running, not the projects' whole history: without --prune, only the
runs at declared addresses and the active runs elsewhere are listed; with --prune, every run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.model import Delete, PlanOptions, PruneCandidate
from chariot_apply.plan.ownership import Marker, compose_notes
from tests.factories import FAST_RETRY, declared_run, manifest, new_run

pytestmark = pytest.mark.anyio
OWNER = "history"


class RunsServed(httpx.AsyncBaseTransport):
    """The in-process emulator, adding up the runs its listings answered with."""

    def __init__(self, app: Any) -> None:
        self.inner = EmulatorTransport(app)
        self.runs_served = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path.endswith("/runs"):
            await response.aread()
            self.runs_served += len(response.json()["runs"])
        return response


async def history(client: AsyncChariotClient, clock: ManualClock, store: EmulatorStore, finished: int) -> None:
    """``finished`` of our runs, each at an address no manifest declares, finished long ago; one still running."""
    notes = compose_notes(None, Marker(OWNER, "0" * 16))
    for i in range(finished):
        await new_run(client, f"old-{i}", notes=notes)
    clock.advance(10_000)  # they have all completed
    store.advance()
    await new_run(client, "still-training", notes=notes)


@pytest.mark.parametrize("finished", [5, 60])
async def test_without_prune_finished_history_is_not_listed(app: Any, clock: ManualClock, store: EmulatorStore,
                                                            finished: int) -> None:
    transport = RunsServed(app)
    async with AsyncChariotClient("http://emulator", transport=transport, retry=FAST_RETRY) as client:
        await history(client, clock, store, finished)
        transport.runs_served = 0
        plan = await make_plan(client, [declared_run(manifest("wanted"))], PlanOptions(owner=OWNER))
    assert transport.runs_served == 1  # the active orphan; however long the history, nothing of it
    assert [(type(i).__name__, i.address) for i in plan.items if isinstance(i, PruneCandidate)] == [
        ("PruneCandidate", "vision/still-training@1.0.0")]


async def test_with_prune_every_owned_run_no_manifest_declares_is_deleted(app: Any, clock: ManualClock,
                                                                           store: EmulatorStore) -> None:
    transport = RunsServed(app)
    async with AsyncChariotClient("http://emulator", transport=transport, retry=FAST_RETRY) as client:
        await history(client, clock, store, 5)
        transport.runs_served = 0
        plan = await make_plan(client, [declared_run(manifest("wanted"))], PlanOptions(owner=OWNER, prune=True))
    assert transport.runs_served == 6
    assert sorted(i.address for i in plan.items if isinstance(i, Delete)) == sorted(
        [f"vision/old-{i}@1.0.0" for i in range(5)] + ["vision/still-training@1.0.0"])


async def test_every_run_at_a_declared_address_is_seen_whatever_its_status(app: Any, clock: ManualClock,
                                                                         store: EmulatorStore) -> None:
    """Finished runs at declared addresses matter (a duplicate to delete, a finished run not to re-create)."""
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(app), retry=FAST_RETRY) as client:
        first = await make_plan(client, [declared_run(manifest("wanted"))], PlanOptions(owner=OWNER))
        from chariot_apply.apply.executor import Executor, Reporter

        assert (await Executor(client, Reporter()).apply(first)).ok
        clock.advance(10_000)
        store.advance()
        again = await make_plan(client, [declared_run(manifest("wanted"))], PlanOptions(owner=OWNER))
    assert not again.has_changes, again.items
