"""Every run and blueprint operation of the SDK reference, through the real client, against the emulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.errors import (
    BlueprintDoesNotExistError,
    InvalidArgumentError,
    NotFoundError,
    ProjectDoesNotExistError,
    RunDoesNotExistError,
    ValidationError,
)
from chariot_apply.chariot.models import RUN_SORTS
from chariot_apply.emulator.clock import ManualClock
from tests.factories import CLASSIFIER, classifier_config, new_run, resources

pytestmark = pytest.mark.anyio


async def test_lookup_without_pattern_takes_the_latest_version(client: AsyncChariotClient) -> None:
    blueprints = [b for b in await client.get_blueprints(names=[CLASSIFIER]) if b.name == CLASSIFIER]
    newest = max(blueprints, key=lambda b: b.created_at)
    assert (await client.lookup_blueprint(CLASSIFIER)).id == newest.id


@pytest.mark.parametrize(("pattern", "expected"), [("2.%", "2.1.0"), ("1._.0", "1.1.0"), ("1.0.0", "1.0.0"),
                                                  ("%", "2.1.0"), ("2.0.%", "2.0.0")])
async def test_lookup_picks_the_most_recent_match(client: AsyncChariotClient, pattern: str, expected: str) -> None:
    blueprint = await client.lookup_blueprint(CLASSIFIER, pattern)
    assert blueprint.version == expected
    assert await client.lookup_blueprint_id(CLASSIFIER, pattern) == blueprint.id


@pytest.mark.parametrize(("name", "pattern"), [("no-such-blueprint", None), (CLASSIFIER, "9.%"),
                                               (CLASSIFIER, "3.0.0-beta")])  # the last one is deleted
async def test_lookup_of_missing_or_deleted_blueprint(client: AsyncChariotClient, name: str,
                                                      pattern: str | None) -> None:
    with pytest.raises(BlueprintDoesNotExistError) as info:
        await client.lookup_blueprint_id(name, pattern)
    assert (info.value.name, info.value.version_ilike, info.value.status) == (name, pattern, 404)


async def test_lookup_needs_a_name(client: AsyncChariotClient) -> None:
    with pytest.raises(InvalidArgumentError):
        await client.lookup_blueprint_id("")


async def test_project_lookup(client: AsyncChariotClient) -> None:
    projects = {p.name: p.id for p in await client.get_projects()}
    assert await client.get_project_id("vision") == projects["vision"]
    with pytest.raises(ProjectDoesNotExistError):
        await client.get_project_id("nope")


async def test_validate_reports_every_error_with_its_path(client: AsyncChariotClient) -> None:
    blueprint_id = await client.lookup_blueprint_id(CLASSIFIER)
    await client.validate_run_config(blueprint_id=blueprint_id, config=classifier_config())
    bad = {"epochs": 0, "optimizer": {"name": "rmsprop"}, "extra": 1}
    with pytest.raises(ValidationError) as info:
        await client.validate_run_config(blueprint_id=blueprint_id, config=bad)
    paths = sorted(e.path for e in info.value.errors)
    # A pydantic-made schema does not forbid other keys: "extra" passes (the planner warns about it instead).
    assert paths == ["$", "$.epochs", "$.optimizer.name"]
    assert any("dataset_id" in e.message for e in info.value.errors)
    assert not any("extra" in e.message for e in info.value.errors)


async def test_validate_against_unknown_blueprint(client: AsyncChariotClient) -> None:
    with pytest.raises(BlueprintDoesNotExistError):
        await client.validate_run_config(blueprint_id="nope", config={})


async def test_create_refuses_invalid_config_and_resources(client: AsyncChariotClient) -> None:
    with pytest.raises(ValidationError) as info:
        await new_run(client, config={"epochs": "many"}, resources=resources(cpu="lots", memory="-1Gi"))
    paths = {e.path for e in info.value.errors}
    assert {"$.config", "$.config.epochs", "$.resources.cpu", "$.resources.memory"} <= paths
    assert await client.get_runs() == []


async def test_create_in_unknown_project(client: AsyncChariotClient) -> None:
    blueprint_id = await client.lookup_blueprint_id(CLASSIFIER)
    with pytest.raises(NotFoundError, match="project"):
        await client.create_run(name="x", version="1", resources=resources(), config=classifier_config(),
                                task_type="t", blueprint_id=blueprint_id, project_id="missing")


async def test_created_run_has_server_defaults_filled_in(client: AsyncChariotClient) -> None:
    run_id = await new_run(client, "defaults", notes="hello")
    run = await client.get_run(run_id)
    assert run.config == classifier_config() | {
        "architecture": "resnet50", "batch_size": 32, "learning_rate": 0.001,
        "optimizer": {"name": "adamw", "weight_decay": 0.0001}, "augmentations": ["flip", "crop"],
        "ckpt_epoch_period": 1, "start_model": None}
    assert (run.name, run.notes, run.status, run.resources) == ("defaults", "hello", "run_created", resources())


async def _runs(client: AsyncChariotClient, clock: ManualClock, count: int, **overrides) -> list[str]:
    ids = []
    for i in range(count):
        ids.append(await new_run(client, f"run-{i:02d}", **overrides))
        clock.advance(0.001)
    return ids


async def test_get_runs_defaults_limit_10_newest_first(client: AsyncChariotClient, clock: ManualClock) -> None:
    ids = await _runs(client, clock, 12)
    runs = await client.get_runs()
    assert [r.id for r in runs] == ids[::-1][: rest.RUNS_DEFAULT_LIMIT]


@pytest.mark.parametrize("sort", RUN_SORTS)
async def test_get_runs_sorts(client: AsyncChariotClient, clock: ManualClock, sort: str) -> None:
    await _runs(client, clock, 5)
    runs = await client.get_runs(sort=[sort], limit=100)
    field, _, direction = sort.partition(":")
    keys = [getattr(r, field) for r in runs]
    assert keys == sorted(keys, reverse=direction == "desc")


async def test_get_runs_offset_and_keyset(client: AsyncChariotClient, clock: ManualClock) -> None:
    ids = sorted(await _runs(client, clock, 7))
    page = await client.get_runs(sort=["id:asc"], limit=3, offset=2)
    assert [r.id for r in page] == ids[2:5]
    after = await client.get_runs(sort=["id:asc"], limit=100, id_after=ids[3])
    assert [r.id for r in after] == ids[4:]


async def test_select_leaves_other_fields_empty(client: AsyncChariotClient) -> None:
    await new_run(client, notes="secret plans")
    (run,) = await client.get_runs(select=["name", "status"])
    assert (run.name, run.status) == ("run", "run_created")
    assert run.id is None and run.config is None and run.notes is None and run.resources is None
    (full,) = await client.get_runs(select=["*"])
    assert full.notes == "secret plans" and full.id is not None


async def test_get_runs_filters(client: AsyncChariotClient, clock: ManualClock) -> None:
    first = await new_run(client, "alpha-1")
    clock.advance(0.01)
    second = await new_run(client, "ALPHA_2", version="2.0.0", project="nlp")
    clock.advance(0.01)
    third = await new_run(client, "beta", blueprint="object-detector", task_type="Object Detection",
                          config={"model": "yolov8n", "dataset_id": "d", "epochs": 1})
    created = {r.id: r for r in await client.get_runs(limit=100)}

    async def ids(**filters) -> set[str]:
        return {r.id for r in await client.get_runs(limit=100, **filters)}

    assert await ids(name_ilikes=["alpha%"]) == {first, second}
    assert await ids(name_ilikes=["alpha\\_%"]) == {second}
    assert await ids(name_ilikes=["beta", "alpha-1"]) == {first, third}
    assert await ids(versions=["2.0.0"]) == {second}
    assert await ids(project_ids=[await client.get_project_id("nlp")]) == {second}
    assert await ids(task_types=["Object Detection"]) == {third}
    assert await ids(blueprint_ids=[created[third].blueprint_id]) == {third}
    assert await ids(ids=[first, third]) == {first, third}
    assert await ids(statuses=["run_created"]) == {first, second, third}
    assert await ids(statuses=["job_running"]) == set()
    assert await ids(user_ids=[created[first].user_id]) == {first, second, third}
    assert await ids(user_ids=["someone-else"]) == set()
    assert await ids(created_after=created[first].created_at) == {second, third}
    assert await ids(created_before=created[third].created_at) == {first, second}


async def test_get_runs_rejects_unknown_options_before_sending(client: AsyncChariotClient) -> None:
    sent = client.requests_sent
    for bad in ({"sort": ["name:asc"]}, {"statuses": ["running"]}, {"select": ["notes"]}, {"limit": -1}):
        with pytest.raises(InvalidArgumentError):
            await client.get_runs(**bad)
    assert client.requests_sent == sent


async def test_iter_runs_neither_misses_nor_repeats_while_runs_are_created(client: AsyncChariotClient,
                                                                          clock: ManualClock) -> None:
    before = set(await _runs(client, clock, 23))
    seen: list[str] = []
    created_during: list[str] = []
    async for run in client.iter_runs(page_size=4):
        seen.append(run.id)
        if len(seen) % 3 == 0:
            created_during.append(await new_run(client, f"late-{len(seen)}"))
            clock.advance(0.001)
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert set(seen) <= before | set(created_during)


async def test_concurrent_creates_all_land(client: AsyncChariotClient) -> None:
    ids = await asyncio.gather(*(new_run(client, f"c-{i}") for i in range(20)))
    assert len(set(ids)) == 20
    assert {r.id async for r in client.iter_runs()} == set(ids)


async def test_get_run_and_reload(client: AsyncChariotClient) -> None:
    run_id = await new_run(client, notes="n")
    run = await client.get_run(run_id)
    partial = await client.get_run(run_id, fields=["status", "notes"])
    assert (partial.id, partial.status, partial.notes, partial.config) == (run_id, "run_created", "n", None)
    reloaded = await client.reload(run, ["status"])
    assert reloaded.config == run.config and reloaded.status == run.status
    with pytest.raises(InvalidArgumentError, match="invalid fields"):
        await client.reload(run, ["config"])
    with pytest.raises(RunDoesNotExistError):
        await client.get_run("00000000-0000-0000-0000-000000000000")


async def test_stop_needs_a_grace_period_of_a_second(client: AsyncChariotClient) -> None:
    run_id = await new_run(client)
    with pytest.raises(InvalidArgumentError):
        await client.stop_run(run_id, timedelta(milliseconds=999))


async def test_delete_then_gone(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client)
    clock.advance(30)
    assert await client.get_checkpoints(run_ids=[run_id])
    await client.delete_run(run_id)
    with pytest.raises(RunDoesNotExistError):
        await client.get_run(run_id)
    with pytest.raises(RunDoesNotExistError):
        await client.delete_run(run_id)
    assert await client.get_runs(ids=[run_id]) == []
    assert await client.get_checkpoints(run_ids=[run_id]) == []


async def test_an_empty_list_filter_matches_nothing(client: AsyncChariotClient) -> None:
    await new_run(client)
    sent = client.requests_sent
    assert await client.get_runs(ids=[]) == []
    assert await client.get_runs(name_ilikes=[], limit=100) == []
    assert await client.get_checkpoints(run_ids=[]) == []
    assert client.requests_sent == sent
    assert len(await client.get_runs(sort=[])) == 1  # sort and select lists are not filters


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=1.000001), timedelta(seconds=2.5)])
async def test_a_run_reads_back_exactly_as_created(client: AsyncChariotClient, clock: ManualClock,
                                                    offset: timedelta) -> None:
    """The emulator composes run JSON in SQL: times to the microsecond (whole seconds too), awkward strings and
    numbers come back as they went in, in listings and in single reads alike."""
    clock.advance(offset.total_seconds())
    config = classifier_config(dataset_id="ds-\x01\n\"\\é\u2028🚀", learning_rate=0.1 + 0.2)
    notes = "line one\nline\ttwo \x7f «ünïcode» 🚀"
    run_id = await new_run(client, config=config, notes=notes)
    (listed,) = await client.get_runs(ids=[run_id])
    single = await client.get_run(run_id)
    for run in (listed, single):
        assert run.created_at == run.status_updated_at == clock.now()
        assert (run.notes, run.progress, run.progress_updated_at) == (notes, [], None)
        assert run.config is not None and {k: run.config[k] for k in config} == config
