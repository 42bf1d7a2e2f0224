"""Keyset paging is exact on every listing (issue 21): ``created_before``/``created_after`` strictly before/after,
``id_after`` strictly after, for random runs on a random clock; through the client in-process and over loopback HTTP.

What each listing returns is compared with the same filter applied by the test to the full listing, so a filter
that lets an object's own time through (as it did before times were stored as served) fails here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.factories import classifier_config, new_run

Story = tuple[float, list[tuple[int, float]]]
stories = st.tuples(st.floats(min_value=0.5, max_value=40.0),  # time scale: odd fractions of a second
                    st.lists(st.tuples(st.integers(1, 3), st.floats(min_value=0.01, max_value=3.0)),
                             min_size=1, max_size=4))  # runs: (epochs, seconds before the next)


async def check_listings(client: AsyncChariotClient, clock: ManualClock, story: Story) -> None:
    _, runs = story
    for i, (epochs, pause) in enumerate(runs):
        await new_run(client, f"k{i}", config=classifier_config(epochs=epochs))
        clock.advance(pause)
    clock.advance(5)
    every_run = await client.get_runs(limit=1000)
    checkpoints = await client.get_checkpoints(limit=1000)
    for run in every_run:
        assert run.created_at is not None and run.id is not None
        same(await client.get_runs(created_after=run.created_at, limit=1000), every_run, after(run.created_at))
        same(await client.get_runs(created_before=run.created_at, limit=1000), every_run, before(run.created_at))
        same(await client.get_runs(id_after=run.id, limit=1000), every_run, id_after(run.id))
        metrics = await client.get_all_metrics(run.id)
        for metric in metrics[:: max(1, len(metrics) // 5)]:
            same(await client.get_metrics(run.id, created_before=metric.created_at, limit=100_000), metrics,
                 before(metric.created_at))
    for checkpoint in checkpoints:
        same(await client.get_checkpoints(created_after=checkpoint.created_at, limit=1000), checkpoints,
             after(checkpoint.created_at))
        same(await client.get_checkpoints(created_before=checkpoint.created_at, limit=1000), checkpoints,
             before(checkpoint.created_at))


def after(at: datetime) -> Callable[[Any], bool]:
    return lambda x: bool(x.created_at > at)


def before(at: datetime) -> Callable[[Any], bool]:
    return lambda x: bool(x.created_at < at)


def id_after(run_id: str) -> Callable[[Any], bool]:
    return lambda x: bool(x.id > run_id)


def same(listed: list[Any], everything: list[Any], keep: Callable[[Any], bool]) -> None:
    """The server's filtered listing is the full listing filtered here."""
    assert {x.id for x in listed} == {x.id for x in everything if keep(x)}


def emulator(story: Story) -> tuple[EmulatorStore, ManualClock]:
    clock = ManualClock()
    return EmulatorStore(":memory:", clock=clock, timing=LifecycleTiming().scaled(story[0])), clock


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_keyset_filters_are_strict_in_process(story: Story) -> None:
    store, clock = emulator(story)

    async def go() -> None:
        async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(create_app(store))) as client:
            await check_listings(client, clock, story)

    asyncio.run(go())
    store.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_keyset_filters_are_strict_over_http(story: Story) -> None:
    store, clock = emulator(story)

    async def go(url: str) -> None:
        async with AsyncChariotClient(url) as client:
            await check_listings(client, clock, story)

    with BackgroundServer(create_app(store)) as server:
        asyncio.run(go(server.url))
    store.close()
