"""HTTP fuzz of the emulator: whatever arrives, the answer is 4xx with the usual envelope (or a success),
never a 500, and never a hang (each request is bounded by the client's timeout).

Queries are drawn per route from the fields of our REST model (``chariot.rest``), with values that broke it
once: huge and negative integers, impossible datetimes, NaN and Infinity, runs of ``%``, long and non-ASCII
text; bodies as random JSON, non-finite numbers, deep nesting and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chariot_apply.chariot import rest_api as rest
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore

INTERESTING = st.sampled_from([
    "0", "-1", "1", "10", "1000", "1001", str(2**63), str(2**64), "9" * 40, "1e308", "NaN", "Infinity", "-0",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-13-45T99:99:99", "2026-01-01T00:00:00Z", "x",
    "%" * 24 + "x", "%a" * 20, "\\", "_", "", "é" * 50, "\u0130", "id:asc", "created_at:desc", "sequence",
    "status", "*", "job_running", "a" * 5000,
])
VALUE = st.one_of(INTERESTING, st.text(max_size=30))

ROUTES: list[tuple[str, type[rest.Query]]] = [
    (rest.RUNS, rest.RunQuery), (rest.CHECKPOINTS, rest.CheckpointQuery),
    (rest.BLUEPRINT_LOOKUP, rest.BlueprintLookupQuery), (rest.BLUEPRINTS, rest.BlueprintListQuery),
    (rest.PROJECTS, rest.ProjectQuery),
]
RUN_ROUTES: list[tuple[str, type[rest.Query]]] = [("", rest.RunFieldsQuery), ("/events", rest.EventQuery),
                                                  ("/metrics", rest.MetricQuery)]


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[httpx.Client, str]]:
    store = EmulatorStore(":memory:")
    with BackgroundServer(create_app(store)) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        project = http.get(rest.PROJECTS).json()["projects"][0]["id"]
        blueprint = http.get(rest.BLUEPRINT_LOOKUP, params={"name": "image-classifier"}).json()["id"]
        created = http.post(rest.RUNS, json={
            "name": "fuzz", "version": "1", "resources": {"cpu": "1", "memory": "1Gi"},
            "config": {"dataset_id": "d", "epochs": 1}, "task_type": "Image Classification",
            "blueprint_id": blueprint, "project_id": project})
        assert created.status_code == 201, created.text
        yield http, created.json()["id"]
    store.close()


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, str(response.request.url)[:300], response.text)
    if response.status_code >= 400 and response.status_code != 404:
        assert "error" in response.json(), response.text


def _params(model: type[rest.Query]) -> st.SearchStrategy[list[tuple[str, str]]]:
    names = sorted(model.model_fields)
    return st.lists(st.tuples(st.sampled_from(names), VALUE), max_size=6)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_queries_never_answer_500(emulator: tuple[httpx.Client, str], route: tuple[str, type[rest.Query]],
                                  data: st.DataObject) -> None:
    http, _ = emulator
    path, model = route
    _check(http.get(path, params=data.draw(_params(model))))


@FUZZ
@given(route=st.sampled_from(RUN_ROUTES), data=st.data())
def test_run_queries_never_answer_500(emulator: tuple[httpx.Client, str], route: tuple[str, type[rest.Query]],
                                      data: st.DataObject) -> None:
    http, run_id = emulator
    suffix, model = route
    _check(http.get(rest.run_path(run_id, suffix), params=data.draw(_params(model))))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10)


def _body(fields: dict[str, Any]) -> st.SearchStrategy[bytes]:
    mutated = st.fixed_dictionaries({k: st.one_of(st.just(v), JSON, INTERESTING) for k, v in fields.items()})
    return st.one_of(
        mutated.map(lambda d: json.dumps(d).encode()),  # NaN and Infinity included: json.dumps writes them
        JSON.map(lambda d: json.dumps(d).encode()),
        st.binary(max_size=40),
        st.just(b"[" * 5000 + b"]" * 5000),
        st.just(b"\xff\xfe not utf-8"),
    )


@FUZZ
@given(data=st.data())
def test_bodies_never_answer_500(emulator: tuple[httpx.Client, str], data: st.DataObject) -> None:
    http, run_id = emulator
    create = {"name": "f", "version": "1", "resources": {"cpu": "1", "memory": "1Gi"}, "config": {"epochs": 1},
              "task_type": "Image Classification", "blueprint_id": "b", "project_id": "p"}
    route = data.draw(st.sampled_from([
        (rest.RUNS, create), (rest.RUNS_VALIDATE, {"blueprint_id": "b", "config": {}}),
        (rest.run_path(run_id, "/stop"), {"grace_period_seconds": 5}), (rest.LOGIN, {}),
    ]))
    path, fields = route
    headers = {"content-type": "application/x-www-form-urlencoded" if path == rest.LOGIN else "application/json"}
    _check(http.post(path, content=data.draw(_body(fields)), headers=headers))


@pytest.mark.parametrize("body", [
    {"resources": {"cpu": "1e9999999", "memory": "1Gi"}}, {"resources": {"cpu": "1", "memory": "9" * 250}},
    {"config": {"epochs": float("nan")}}, {"config": {"deep": [[[[[[1]]]]]]}},
])
def test_the_minimal_create_bodies_of_the_issue(emulator: tuple[httpx.Client, str], body: dict[str, Any]) -> None:
    http, _ = emulator
    project = http.get(rest.PROJECTS).json()["projects"][0]["id"]
    blueprint = http.get(rest.BLUEPRINT_LOOKUP, params={"name": "image-classifier"}).json()["id"]
    create = {"name": "m", "version": "1", "resources": {"cpu": "1", "memory": "1Gi"},
              "config": {"dataset_id": "d", "epochs": 1}, "task_type": "Image Classification",
              "blueprint_id": blueprint, "project_id": project}
    response = http.post(rest.RUNS, content=json.dumps(create | body).encode(),
                         headers={"content-type": "application/json"})
    _check(response)


@pytest.mark.parametrize("params", [
    {"offset": str(2**63)}, {"limit": str(2**70)}, {"created_after": "0001-01-01T00:00:00"},
    {"name_ilikes": "%" * 20 + "x"}, {"created_before": "9999-12-31T23:59:59"},
])
def test_the_minimal_queries_of_the_issue(emulator: tuple[httpx.Client, str], params: dict[str, str]) -> None:
    http, _ = emulator
    _check(http.get(rest.RUNS, params=params))


def test_an_infinite_grace_period_is_refused_and_events_stay_readable(emulator: tuple[httpx.Client, str]) -> None:
    http, run_id = emulator
    refused = http.post(rest.run_path(run_id, "/stop"), content=b'{"grace_period_seconds": Infinity}',
                        headers={"content-type": "application/json"})
    assert refused.status_code == 422, refused.text
    assert http.get(rest.run_path(run_id, "/events")).status_code == 200
