"""Timeouts that can mean "it happened": a create whose answer never comes must not become a second run.

Over real HTTP (a served emulator) with a client timeout shorter than the server's hang: the timeout kinds a
real network has, each on the create of a one-run apply. Every case ends with exactly one run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chariot_apply.apply.executor import Executor, Reporter
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import TIMEOUT_KINDS, FaultKind, Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.model import PlanOptions
from tests.factories import FAST_RETRY
from tests.plan_factories import declared

pytestmark = pytest.mark.anyio

CLIENT_TIMEOUT = 0.3
HANG = 1.0


@pytest.fixture
def slow() -> Iterator[tuple[BackgroundServer, Faults]]:
    faults = Faults(hang_seconds=HANG)
    store = EmulatorStore(":memory:", clock=ManualClock())
    with BackgroundServer(create_app(store, faults=faults)) as server:
        yield server, faults
    store.close()


@pytest.mark.parametrize("kind", [*TIMEOUT_KINDS, "commit-then-drop", "503"])
async def test_an_uncertain_create_never_becomes_a_second_run(slow: tuple[BackgroundServer, Faults],
                                                              kind: FaultKind) -> None:
    server, faults = slow
    async with AsyncChariotClient(server.url, retry=FAST_RETRY, timeout_seconds=CLIENT_TIMEOUT) as client:
        runs = [declared("slow")]
        plan = await make_plan(client, runs, PlanOptions(owner="team"))
        faults.script(kind, "POST", "/runs")
        result = await Executor(client, Reporter(), retry_delay=0.05,
                                settle_delay=HANG + 0.5).apply(plan)
        assert result.ok, result.outcomes
        live = await client.get_runs(name_ilikes=["slow"])
        assert len(live) == 1, (kind, [(r.id, r.created_at) for r in live])
        (outcome,) = result.outcomes
        assert outcome.run_id == live[0].id
        if kind in ("commit-then-hang", "commit-then-502", "commit-late", "commit-then-drop"):
            assert "found it by its marker" in outcome.detail
        again = await make_plan(client, runs, PlanOptions(owner="team"))
        assert not again.has_changes
