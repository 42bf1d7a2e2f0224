"""Properties of the planner against a real (in-process) emulator: apply any plan, plan again, no changes;
runs chariot-apply does not own are never touched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chariot_apply.apply.executor import Executor, Reporter
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import EmulatorTransport
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.document import PlanDocument, plan_json_schema
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.model import Plan, PlanOptions
from tests.factories import classifier_config, declared_run, manifest, new_run

ROOT = Path(__file__).resolve().parents[1]
OWNER = "prop-owner"


run_docs = st.builds(
    lambda name, version, project, state, epochs, cpu, pattern: manifest(
        name, version, project=project, state=state, config=classifier_config(epochs=epochs),
        resources_={"cpu": cpu, "memory": "1Gi"}, blueprint_version=pattern),
    name=st.sampled_from(["a", "b", "c"]), version=st.sampled_from(["1", "2"]),
    project=st.sampled_from(["vision", "nlp"]), state=st.sampled_from(["running", "stopped", "absent"]),
    epochs=st.integers(1, 2), cpu=st.sampled_from(["1", "1000m", "2"]), pattern=st.sampled_from(["2.%", "1.%", None]))


def unique(docs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for doc in docs:
        key = (doc["metadata"]["project"], doc["metadata"]["name"], doc["metadata"]["version"])
        if key not in seen:
            seen.add(key)
            out.append(doc)
    return out


manifest_sets = st.lists(run_docs, max_size=6).map(unique)
foreign_runs = st.lists(st.tuples(st.sampled_from(["a", "b", "z"]), st.sampled_from(["1", "2"])), max_size=3)


async def scenario(before: list[dict], after: list[dict], foreign: list[tuple[str, str]], prune: bool,
                   allow_replace: bool, steps: float) -> tuple[Plan, Plan, dict, dict]:
    clock = ManualClock()
    store = EmulatorStore(":memory:", clock=clock)
    async with AsyncChariotClient("http://e", transport=EmulatorTransport(create_app(store))) as client:
        foreign_ids = [await new_run(client, name, version=version) for name, version in foreign]
        executor = Executor(client, Reporter(), retry_delay=0)
        first = await make_plan(client, [declared_run(d) for d in before], PlanOptions(owner=OWNER))
        await executor.apply(first)
        clock.advance(steps)
        options = PlanOptions(owner=OWNER, prune=prune, allow_replace=allow_replace)
        runs = [declared_run(d) for d in after]
        foreign_before = {r.id: r.model_dump() for r in await client.get_runs(ids=foreign_ids, limit=100)}
        plan = await make_plan(client, runs, options)
        result = await executor.apply(plan)
        assert result.ok, result.failed
        again = await make_plan(client, runs, options)
        foreign_after = {r.id: r.model_dump() for r in await client.get_runs(ids=foreign_ids, limit=100)}
    store.close()
    return plan, again, foreign_before, foreign_after


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=manifest_sets, after=manifest_sets, foreign=foreign_runs, prune=st.booleans(),
       allow_replace=st.booleans(), steps=st.sampled_from([0, 5, 600]))
@pytest.mark.slow
def test_apply_then_plan_has_no_changes_and_foreign_runs_are_untouched(before, after, foreign, prune, allow_replace,
                                                                        steps) -> None:
    plan, again, foreign_before, foreign_after = asyncio.run(
        scenario(before, after, foreign, prune, allow_replace, steps))
    assert not again.has_changes, [i.address + " " + i.kind for i in again.changes]
    assert foreign_after == foreign_before
    touched = {c.live.id for c in plan.changes if hasattr(c, "live")}
    assert not touched & set(foreign_before)
    document = PlanDocument.model_validate_json(PlanDocument(
        summary=plan.summary(), counts=plan.counts(), has_changes=plan.has_changes, redacted=False,
        plan=plan).model_dump_json())
    assert document.plan == plan  # a saved plan reads back as the same value


def test_checked_in_plan_schema_is_the_generated_one() -> None:
    assert json.loads((ROOT / "schemas" / "plan.schema.json").read_text()) == plan_json_schema()


json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False)
                           | st.text(max_size=2),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.text(alphabet="abc_", min_size=1, max_size=2), inner, max_size=3), max_leaves=8)


@given(json_values, json_values)
def test_the_cheap_equality_agrees_with_the_structural_diff(a, b) -> None:
    from chariot_apply.chariot.jsonvalue import same_json
    from chariot_apply.plan.compare import structural_differences

    differences = list(structural_differences(a, b, "config"))
    assert same_json(a, b) == (not differences)
    for d in differences:  # each difference names a real place, whose values really differ (true is not 1)
        assert not (d.in_live and d.in_manifest and same_json(d.live, d.declared)), d
        if d.in_live:
            assert same_json(_at(a, d.path), d.live), d
        if d.in_manifest:
            assert same_json(_at(b, d.path), d.declared), d


def _at(value, path: str):
    import re as _re

    for key, index in _re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("config")):
        value = value[int(index)] if index else value[key]
    return value
