"""The emulator answers in the shape of our REST model, one place for answers as for requests: the documents
SQLite composes for runs have exactly the fields of ``rest.Run``, and every other answer is written by its reply
model."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chariot_apply.backends.rest import api as rest
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
