"""Configs are validated while the projects are listed, each (blueprint, config) once, and what the plan needs
is validated whatever the listing left undone; the listing keeps a window of pages in flight."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.errors import ServerError
from chariot_apply.chariot.models import RunSummary
from chariot_apply.emulator.faults import EmulatorTransport
from chariot_apply.plan.fetch import list_project, make_plan, runs_at_addresses
from chariot_apply.plan.model import Create, Invalid, PlanOptions
from chariot_apply.runtime.concurrency import Bounded
from tests.factories import FAST_RETRY, classifier_config, declared_run, manifest, new_run

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
    runs = [declared_run(manifest(f"run-{i}", config=classifier_config(epochs=1 + i % 3))) for i in range(9)]
    runs.append(declared_run(manifest("broken", config=classifier_config(epochs="many"))))
    async with AsyncChariotClient("http://emulator", transport=transport) as client:
        plan = await make_plan(client, runs, PlanOptions(owner=OWNER))
    assert transport.seen[("POST", rest.RUNS_VALIDATE)] == 4  # three good configs and the broken one, once each
    kinds = Counter(type(item).__name__ for item in plan.items)
    assert kinds == Counter({Create.__name__: 9, Invalid.__name__: 1})


async def test_configs_of_runs_that_exist_are_validated_only_while_the_listing_runs(app: Any) -> None:
    """Up to date runs need no validation: after a plan's listing ends, none of theirs is asked for."""
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(app)) as setup:
        first = await make_plan(setup, [declared_run(manifest("kept"))], PlanOptions(owner=OWNER))
        from chariot_apply.apply.executor import Executor, Reporter

        assert (await Executor(setup, Reporter()).apply(first)).ok
        await new_run(setup, "someone-else")
    transport = CountingTransport(app)
    async with AsyncChariotClient("http://emulator", transport=transport) as client:
        again = await make_plan(client, [declared_run(manifest("kept"))], PlanOptions(owner=OWNER))
    assert not again.changes
    assert transport.seen[("POST", rest.RUNS_VALIDATE)] <= 1  # at most the speculative one


async def test_a_listing_window_sees_every_run_once(client: AsyncChariotClient) -> None:
    made = {await new_run(client, f"run-{i}") for i in range(10)}
    project_id = await client.get_project_id("vision")
    for page_size in (1, 3, 10, 11):  # one run a page; a short last page; an empty last page; one page
        bound = Bounded(8)
        listed = await list_project(client, project_id, bound, page_size=page_size)
        await bound.settle_detached()
        assert sorted(r.id for r in listed) == sorted(made)


class HeldPages(CountingTransport):
    """The in-process emulator, except that the pages of runs from ``offset`` on are answered only once
    ``release`` is set."""

    def __init__(self, app: Any, offset: int) -> None:
        super().__init__(app)
        self.offset, self.release, self.held = offset, asyncio.Event(), 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == rest.RUNS and int(request.url.params.get("offset", 0)) >= self.offset:
            self.held += 1
            await self.release.wait()
        return await super().handle_async_request(request)


async def test_the_listing_ends_without_waiting_for_pages_past_its_end(app: Any, client: AsyncChariotClient) -> None:
    made = {await new_run(client, f"run-{i}") for i in range(10)}
    project_id = await client.get_project_id("vision")
    transport = HeldPages(app, offset=12)  # pages of 3: the fourth (offset 9) is short, later ones are held
    async with AsyncChariotClient("http://emulator", transport=transport) as held:
        bound = Bounded(8)
        listed = await asyncio.wait_for(list_project(held, project_id, bound, page_size=3), timeout=30)
        assert sorted(r.id for r in listed) == sorted(made)
        assert transport.held >= 1  # it ended with a page past the end still unanswered
        transport.release.set()
        await bound.settle_detached()  # what a plan does before its client closes
        left = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "").startswith("Bounded")]
        assert left == []


class FailingPage(CountingTransport):
    """The in-process emulator, except that every read of one page of runs answers 500."""

    def __init__(self, app: Any, offset: int) -> None:
        super().__init__(app)
        self.offset = str(offset)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == rest.RUNS and request.url.params.get("offset") == self.offset:
            self.seen[("failed", self.offset)] += 1
            return httpx.Response(500, json={"error": "boom"}, request=request)
        return await super().handle_async_request(request)


async def test_a_failed_page_fails_the_listing_after_the_others_end(app: Any, client: AsyncChariotClient) -> None:
    for i in range(10):
        await new_run(client, f"run-{i}")
    project_id = await client.get_project_id("vision")
    transport = FailingPage(app, offset=3)  # the second page: the third is in flight beside it
    async with AsyncChariotClient("http://emulator", transport=transport, retry=FAST_RETRY) as failing:
        with pytest.raises(ServerError):
            await list_project(failing, project_id, Bounded(8), page_size=3)
        left = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "").startswith("Bounded")]
        assert left == []  # no page still in flight
    assert transport.seen[("failed", "3")] >= 1
    assert transport.seen[("GET", rest.RUNS)] >= 2  # the first page, and the one in flight beside the failed one


async def test_a_failed_early_validation_fails_only_a_plan_that_needs_it(app: Any) -> None:
    """An early validation is a guess: if its answer is an error the plan does not need, the plan goes on; if the
    plan does need that config, it is asked again and the failure is the plan's."""
    kept = declared_run(manifest("kept"))
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(app)) as client:
        from chariot_apply.apply.executor import Executor, Reporter

        assert (await Executor(client, Reporter()).apply(await make_plan(client, [kept], PlanOptions(owner=OWNER)))).ok
        app.state.faults.script("500", "POST", "/runs/validate")
        assert not (await make_plan(client, [kept], PlanOptions(owner=OWNER))).changes  # nothing to validate
        for _ in range(8):  # every attempt, early and when needed
            app.state.faults.script("500", "POST", "/runs/validate")
        with pytest.raises(ServerError):
            await make_plan(client, [declared_run(manifest("new"))], PlanOptions(owner=OWNER))


async def test_a_listing_keeps_summaries_and_the_declared_addresses_come_whole(client: AsyncChariotClient) -> None:
    declared_id = await new_run(client, "declared", notes="ours")
    other_id = await new_run(client, "other", notes="theirs")
    project_id = await client.get_project_id("vision")
    bound = Bounded(8)
    listed = {r.id: r for r in await list_project(client, project_id, bound)}
    await bound.settle_detached()
    whole = await runs_at_addresses(client, [project_id], {(project_id, "declared", "1.0.0")}, bound)
    assert whole == await client.get_runs(ids=[declared_id])
    other = listed[other_id]
    assert isinstance(other, RunSummary) and not hasattr(other, "config")  # a summary cannot claim config=None
    full = (await client.get_runs(ids=[other_id]))[0]
    identity = ("id", "name", "version", "project_id", "blueprint_id", "created_at", "status", "notes")
    assert [getattr(other, f) for f in identity] == [getattr(full, f) for f in identity]
