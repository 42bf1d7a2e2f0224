"""Configs are validated while the projects are listed, each (blueprint, config) once, and what the plan needs
is validated whatever the listing left undone."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from chariot_apply.chariot import rest
from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.emulator.faults import EmulatorTransport
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.model import Create, Invalid, PlanOptions
from tests.factories import classifier_config, manifest, new_run
from tests.test_planner_properties import declared

pytestmark = pytest.mark.anyio
OWNER = "pipeline"


class CountingTransport(httpx.AsyncBaseTransport):
    """The in-process emulator, counting requests by method and path."""

    def __init__(self, app: Any) -> None:
        self.inner = EmulatorTransport(app)
        self.seen: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen[(request.method, request.url.path)] += 1
        return await self.inner.handle_async_request(request)


async def test_each_config_is_validated_once_and_invalid_ones_still_stop_their_runs(app: Any) -> None:
    transport = CountingTransport(app)
    runs = [declared(manifest(f"run-{i}", config=classifier_config(epochs=1 + i % 3))) for i in range(9)]
    runs.append(declared(manifest("broken", config=classifier_config(epochs="many"))))
    async with AsyncChariotClient("http://emulator", transport=transport) as client:
        plan = await make_plan(client, runs, PlanOptions(owner=OWNER))
    assert transport.seen[("POST", rest.RUNS_VALIDATE)] == 4  # three good configs and the broken one, once each
    kinds = Counter(type(item).__name__ for item in plan.items)
    assert kinds == Counter({Create.__name__: 9, Invalid.__name__: 1})


async def test_configs_of_runs_that_exist_are_validated_only_while_the_listing_runs(app: Any) -> None:
    """Up to date runs need no validation: after a plan's listing ends, none of theirs is asked for."""
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(app)) as setup:
        first = await make_plan(setup, [declared(manifest("kept"))], PlanOptions(owner=OWNER))
        from chariot_apply.apply.executor import Executor, Reporter

        assert (await Executor(setup, Reporter()).apply(first)).ok
        await new_run(setup, "someone-else")
    transport = CountingTransport(app)
    async with AsyncChariotClient("http://emulator", transport=transport) as client:
        again = await make_plan(client, [declared(manifest("kept"))], PlanOptions(owner=OWNER))
    assert not again.changes
    assert transport.seen[("POST", rest.RUNS_VALIDATE)] <= 1  # at most the speculative one
