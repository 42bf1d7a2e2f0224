"""Timeouts that can mean "it happened": a create whose answer never comes must not become a second run.

Over real HTTP (a served emulator) with a client timeout shorter than the server's hang: the timeout kinds a
real network has, each on the create of a one-run apply. Every case ends with exactly one run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chariot_apply.apply.executor import Executor, Reporter
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import TIMEOUT_KINDS, FaultKind, Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.model import PlanOptions
from tests.factories import FAST_RETRY, classifier_config
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


MODEL_WRITES = "/models"  # the create-model route: /api/training/v2/checkpoints/{id}/models


async def _promotable(client: AsyncChariotClient, clock: ManualClock) -> DeclaredRun:
    """A run applied and trained far enough that its last checkpoint is complete: the plan promotes it."""
    run = declared("promoted", config=classifier_config(epochs=3), promote=[
        {"model": {"name": "m", "version": "1.0.0", "summary": "s"}, "checkpoint": {"select": "last"}}])
    assert (await Executor(client, Reporter()).apply(await make_plan(client, [run], PlanOptions(owner="team")))).ok
    clock.advance(40)
    return run


@pytest.mark.parametrize("kind", ["commit-late", "commit-then-hang", "commit-then-502", "commit-then-drop"])
async def test_an_uncertain_model_create_is_never_sent_again(kind: FaultKind) -> None:
    """Models cannot be deleted through the SDK, so a second one would stay for good: after an uncertain answer
    the create is looked for, and if it is not there yet the apply says "outcome unknown" instead of resending.
    Late commits land after both look-ups here (hang 1.0 s > settle 0.2 s); the next plan sees the model."""
    clock = ManualClock()
    faults = Faults(hang_seconds=HANG)
    store = EmulatorStore(":memory:", clock=clock)
    with BackgroundServer(create_app(store, faults=faults)) as server:
        async with AsyncChariotClient(server.url, retry=FAST_RETRY, timeout_seconds=CLIENT_TIMEOUT) as client:
            run = await _promotable(client, clock)
            plan = await make_plan(client, [run], PlanOptions(owner="team"))
            assert [c.kind for c in plan.changes] == ["promote"]
            faults.script(kind, "POST", MODEL_WRITES)
            result = await Executor(client, Reporter(), retry_delay=0.05, settle_delay=0.2).apply(plan)
            # At once, before a late commit lands: the next plan waits for it instead of promoting again.
            sent = {key: client.server_now() or clock.now() for key in result.pending_models}
            early = await make_plan(client, [run], PlanOptions(owner="team"), pending_models=sent)
            if kind == "commit-late":
                assert result.pending_models and not early.changes, early.changes
                assert any("may still commit" in n for i in early.items for n in i.notices)
            await asyncio.sleep(HANG + 0.3)  # whatever was held has committed by now
            models = await client.get_models()
            assert len(models) == 1, (kind, result.outcomes)
            (outcome,) = result.outcomes
            if not outcome.ok:
                assert "outcome unknown" in outcome.detail and "not sent again" in outcome.detail
            again = await make_plan(client, [run], PlanOptions(owner="team"))
            assert not again.has_changes, again.changes
    store.close()


async def test_a_model_two_applies_made_at_once_is_reported_with_what_to_do() -> None:
    """Two applies of one reviewed plan at the same moment both promote: the second model cannot be deleted
    through the SDK, so each apply that sees it says so, naming the one to keep."""
    clock = ManualClock()
    store = EmulatorStore(":memory:", clock=clock)
    with BackgroundServer(create_app(store)) as server:
        async with AsyncChariotClient(server.url, retry=FAST_RETRY) as client:
            plan = await make_plan(client, [await _promotable(client, clock)], PlanOptions(owner="team"))
            results = await asyncio.gather(*(Executor(client, Reporter()).apply(plan) for _ in range(2)))
            models = await client.get_models()
            reported = [o for r in results for o in r.outcomes if o.kind == "dedupe"]
            assert len(models) == 2  # both sent before either looked: the emulator, like Chariot, takes both
            oldest = min(models, key=lambda m: (m.created_at, m.id))
            assert reported and all(not o.ok and oldest.id in (o.hint or "") for o in reported)
    store.close()
