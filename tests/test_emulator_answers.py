"""The emulator answers in the shape of our REST model, one place for answers as for requests: the documents
SQLite composes for runs have exactly the fields of ``rest.Run``, and every other answer is written by its reply
model."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.models import Run
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport
from tests.factories import new_run

pytestmark = pytest.mark.anyio


async def test_a_run_document_has_exactly_the_fields_of_the_rest_model(client: Any, app: Any) -> None:
    run_id = await new_run(client, "shape")
    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url="http://emulator") as raw:
        listed = (await raw.get(rest.RUNS, params={"ids": run_id})).json()["runs"][0]
        one = (await raw.get(rest.run_path(run_id))).json()
        selected = (await raw.get(rest.RUNS, params={"ids": run_id, "select": "name"})).json()["runs"][0]
    assert set(listed) == set(one) == set(selected) == set(Run.model_fields)
    assert selected["name"] == "shape" and selected["config"] is None  # unselected: null, as the SDK says


async def test_every_other_answer_is_what_its_reply_model_writes(client: Any, app: Any, clock: ManualClock) -> None:
    run_id = await new_run(client, "answers")
    clock.advance(60)  # events, metrics and checkpoints exist by now
    paths = {rest.PROJECTS: rest.ProjectList, rest.SYSTEM_GPUS: rest.SystemGpuList,
             rest.run_path(run_id, "/events"): rest.EventList, rest.run_path(run_id, "/metrics/all"): rest.MetricList,
             rest.CHECKPOINTS: rest.CheckpointList}
    async with httpx.AsyncClient(transport=EmulatorTransport(app), base_url="http://emulator") as raw:
        for path, model in paths.items():
            params = {"run_ids": run_id} if path == rest.CHECKPOINTS else {}
            answer = (await raw.get(path, params=params)).json()
            assert answer == json.loads(model.model_validate(answer).model_dump_json()), path
            assert any(answer.values()), path  # something was compared


async def test_keyset_filters_are_strict_for_an_objects_own_time() -> None:
    """An object's own `created_at`, given back as `created_before`/`created_after`, never returns it (it did for
    22 of 58 checkpoints: stored times were compared unrounded and served rounded to the microsecond)."""
    from chariot_apply.emulator.app import create_app
    from chariot_apply.emulator.lifecycle import LifecycleTiming
    from chariot_apply.emulator.store import EmulatorStore
    from tests.factories import classifier_config

    clock = ManualClock()
    store = EmulatorStore(":memory:", clock=clock, timing=LifecycleTiming().scaled(7.3))  # odd fractions of a second
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(create_app(store))) as client:
        run_id = await new_run(client, "keyset", config=classifier_config(epochs=3))
        for _ in range(40):
            clock.advance(0.37)
        checkpoints = await client.get_checkpoints(run_ids=[run_id], limit=1000)
        assert len(checkpoints) > 2
        for checkpoint in checkpoints:
            before = await client.get_checkpoints(run_ids=[run_id], created_before=checkpoint.created_at, limit=1000)
            after = await client.get_checkpoints(run_ids=[run_id], created_after=checkpoint.created_at, limit=1000)
            assert checkpoint.id not in {c.id for c in [*before, *after]}
        (run,) = await client.get_runs(ids=[run_id])
        assert run.id not in {r.id for r in await client.get_runs(created_after=run.created_at, limit=100)}
    store.close()
