"""The simulated training lifecycle, driven by a manual clock: statuses, events, progress, metrics, checkpoints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.errors import ConflictError, InvalidArgumentError, NotFoundError
from chariot_apply.chariot.models import FINISHED_STATUSES
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.lifecycle import START_PHASES, STOP_PHASES
from chariot_apply.emulator.store import EmulatorStore
from tests.factories import classifier_config, new_run

pytestmark = pytest.mark.anyio


async def _statuses(client: AsyncChariotClient, run_id: str) -> list[str]:
    events = await client.get_events(run_id, sort=["sequence:asc"], limit=1000)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    return [e.status for e in events]


async def test_a_run_trains_to_completion(client: AsyncChariotClient, clock: ManualClock,
                                          store: EmulatorStore) -> None:
    run_id = await new_run(client, config=classifier_config(epochs=3))  # 30 steps
    seen = []
    for _ in range(60):
        run = await client.get_run(run_id)
        seen.append(run.status)
        clock.advance(store.timing.step_seconds)
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == \
        ["run_created", *START_PHASES, "job_completed"]
    assert await _statuses(client, run_id) == ["run_created", *START_PHASES, "job_completed"]
    assert run.progress and (run.progress[0].value, run.progress[0].final_value) == (30, 30)
    metrics = await client.get_all_metrics(run_id)
    assert sorted({m.global_step for m in metrics}) == list(range(1, 31))
    tags_at: dict[int, set[str]] = {}
    for m in metrics:
        tags_at.setdefault(m.global_step, set()).add(m.tag)
    assert tags_at[1] == tags_at[9] == {"train/loss", "train/lr"}  # logged every step of a 10-step epoch
    for epoch_end in (10, 20, 30):  # a validation pass writes its tags at the epoch's last step
        assert {"val/loss", "val/accuracy", "ds-1/val/accuracy"} < tags_at[epoch_end]
    losses = [m.value for m in sorted(metrics, key=lambda m: m.global_step) if m.tag == "train/loss"]
    epoch_means = [sum(losses[i:i + 10]) / 10 for i in (0, 10, 20)]
    assert epoch_means == sorted(epoch_means, reverse=True) and losses[-1] < losses[0] / 2  # noisy, but falling
    assert await client.get_global_steps_with_checkpoints(run_id) == [10, 20, 30]
    checkpoints = await client.get_checkpoints(run_ids=[run_id])
    assert {c.status for c in checkpoints} == {"complete"}


async def test_progress_grows(client: AsyncChariotClient, clock: ManualClock, store: EmulatorStore) -> None:
    run_id = await new_run(client, config=classifier_config(epochs=5))
    clock.advance(sum(store.timing.phase_seconds))
    values = []
    for _ in range(5):
        clock.advance(store.timing.step_seconds * 3)
        run = await client.get_run(run_id, fields=["progress", "status"])
        values.append(run.progress[0].value)
    assert values == sorted(values) and len(set(values)) == 5
    assert run.status == "job_running"


async def test_defaults_of_events_metrics_and_checkpoints(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client, config=classifier_config(epochs=70))  # 700 steps, 10 an epoch
    clock.advance(10_000)
    assert len(await client.get_events(run_id)) == len(START_PHASES) + 2
    events = await client.get_events(run_id, limit=3)
    assert [e.sequence for e in events] == [6, 5, 4]  # default sequence:desc
    assert [e.sequence for e in await client.get_events(run_id, sort=["sequence"], limit=2)] == [1, 2]
    assert [e.sequence for e in await client.get_events(run_id, sort=["sequence:asc"], offset=4)] == [5, 6]
    everything = await client.get_all_metrics(run_id)
    assert len(everything) > rest.METRICS_DEFAULT_LIMIT
    assert len(await client.get_metrics(run_id)) == rest.METRICS_DEFAULT_LIMIT
    last = await client.get_metrics(run_id, global_steps=[700], tags=["train/loss"])
    assert [(m.global_step, m.tag) for m in last] == [(700, "train/loss")]
    older = await client.get_metrics(run_id, created_before=last[0].created_at, limit=5000)
    assert {m.id for m in older} == {m.id for m in everything if m.created_at < last[0].created_at}  # strictly
    checkpoints = await client.get_checkpoints(run_ids=[run_id])
    assert len(checkpoints) == rest.CHECKPOINTS_DEFAULT_LIMIT
    assert [c.global_step for c in checkpoints] == list(range(700, 600, -10))  # created_at:desc
    ascending = await client.get_checkpoints(run_ids=[run_id], sort=["created_at:asc"], limit=3, offset=1)
    assert [c.global_step for c in ascending] == [20, 30, 40]
    selected = await client.get_checkpoints(run_ids=[run_id], select=["global_step"], limit=1)
    assert selected[0].global_step == 700 and selected[0].id is None


async def test_stop_terminates_within_the_grace_period(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client, config=classifier_config(epochs=100))
    clock.advance(20)
    await client.stop_run(run_id, grace_period=timedelta(seconds=2))
    assert (await client.get_run(run_id)).status == "run_stop_requested"
    await client.stop_run(run_id)  # stopping a stopping run changes nothing
    clock.advance(2)
    assert (await client.get_run(run_id)).status == "job_terminated"
    statuses = await _statuses(client, run_id)
    assert statuses[-4:] == ["run_stop_requested", *STOP_PHASES]
    assert statuses.count("run_stop_requested") == 1


async def test_default_grace_period_is_ten_minutes(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client)
    await client.stop_run(run_id)
    (event,) = await client.get_events(run_id, limit=1)
    assert event.details == {"grace_period_seconds": 600.0}


async def test_stopping_a_finished_run_is_a_conflict(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client)
    clock.advance(600)
    run = await client.get_run(run_id)
    assert run.status in FINISHED_STATUSES
    with pytest.raises(ConflictError, match="already finished"):
        await client.stop_run(run_id)


async def test_delete_checkpoints_needs_a_filter(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client, config=classifier_config(epochs=3))
    clock.advance(600)
    with pytest.raises(InvalidArgumentError):
        await client.delete_checkpoints()
    response = await client._http.delete(rest.CHECKPOINTS)  # the server refuses as well
    assert response.status_code == 400
    first, *rest_ = await client.get_checkpoints(run_ids=[run_id], sort=["created_at:asc"])
    await client.delete_checkpoints(ids=[first.id])
    assert [c.id for c in await client.get_checkpoints(run_ids=[run_id], sort=["created_at:asc"])] == \
        [c.id for c in rest_]
    await client.delete_checkpoints(run_ids=[run_id])
    assert await client.get_global_steps_with_checkpoints(run_id) == []


async def test_download_and_model_from_checkpoint(client: AsyncChariotClient, clock: ManualClock,
                                                  tmp_path: Path) -> None:
    run_id = await new_run(client)
    clock.advance(600)
    (checkpoint,) = await client.get_checkpoints(run_ids=[run_id])
    with pytest.raises(InvalidArgumentError, match="existing directory"):
        await client.download_checkpoint(checkpoint.id, tmp_path / "missing")
    written = await client.download_checkpoint(checkpoint.id, tmp_path)
    assert sorted(p.name for p in written) == ["chariot_model_config.json", "model.pt"]
    assert (tmp_path / "model.pt").stat().st_size == 4096
    with pytest.raises(InvalidArgumentError, match="SemVer"):
        await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id, name="m", version="1.0",
                                                  summary="s")
    raw = await client._http.post(rest.checkpoint_path(checkpoint.id, "/models"),
                                  json={"name": "m", "version": "v1", "summary": "s"})
    assert raw.status_code == 422 and raw.json()["errors"][0]["path"] == "$.version"
    model_id = await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id, name="m",
                                                         version="1.0.0-rc.1+build.5", summary="s")
    assert model_id


async def test_create_model_refuses_missing_project(client: AsyncChariotClient, clock: ManualClock) -> None:
    run_id = await new_run(client)
    clock.advance(600)
    (checkpoint,) = await client.get_checkpoints(run_ids=[run_id])
    with pytest.raises(NotFoundError, match="project"):
        await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id, name="m", version="1.0.0",
                                                  summary="s", project_id="missing")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "emulator.db"
    first = EmulatorStore(path, clock=clock)
    body = rest.CreateRunBody(name="kept", version="1", resources={"cpu": "1", "memory": "1Gi"},
                              config=classifier_config(epochs=2), task_type="t",
                              blueprint_id=first.lookup_blueprint("image-classifier", None)["id"],
                              project_id=first.projects("vision")[0]["id"])
    run_id = first.create_run(body, "u")
    clock.advance(10)
    first.advance()
    first.close()
    second = EmulatorStore(path, clock=clock)
    assert len(second.projects(None)) == 3  # the catalog is not loaded twice
    clock.advance(100)
    run = second.get_run(run_id, None)
    assert (run["name"], run["status"]) == ("kept", "job_completed")
    losses = [m for m in second.metrics(run_id, None) if m["tag"] == "train/loss"]
    assert sorted(m["global_step"] for m in losses) == list(range(1, 21))
    second.close()


EVERY_SELECTABLE = ["id", "project_id", "user_id", "created_at", "name", "version", "blueprint_id", "task_type",
                    "config", "resources", "progress", "progress_updated_at", "status", "status_updated_at"]


async def test_stored_run_documents_follow_every_change(client: AsyncChariotClient, clock: ManualClock) -> None:
    """Full reads come from documents kept by triggers; selecting every field composes them afresh: the two agree
    (notes aside: not selectable) at each step of created, training, stopping, finished, deleted."""
    trained, stopped, deleted = [await new_run(client, name, notes=f"notes of {name}")
                                 for name in ("trained", "stopped", "deleted")]
    for step in range(25):
        clock.advance(2)
        if step == 3:
            await client.stop_run(stopped, grace_period=timedelta(seconds=5))
        if step == 5:
            await client.delete_run(deleted)
        stored = {r.id: r for r in await client.get_runs(limit=100)}
        composed = {r.id: r for r in await client.get_runs(limit=100, select=EVERY_SELECTABLE)}
        assert stored.keys() == composed.keys() and (deleted in stored) == (step < 5)
        for run_id, run in stored.items():
            assert run.model_copy(update={"notes": None}) == composed[run_id]
            assert await client.get_run(run_id) == run
    final = {r.id: r.status for r in await client.get_runs(limit=100)}
    assert final[trained] == "job_completed" and final[stopped] == "job_terminated"


def test_a_database_from_before_stored_documents_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "emulator.db"
    first = EmulatorStore(path, clock=ManualClock())
    body = rest.CreateRunBody(name="old", version="1", resources={"cpu": "1", "memory": "1Gi"},
                              config=classifier_config(epochs=2), task_type="t",
                              blueprint_id=first.lookup_blueprint("image-classifier", None)["id"],
                              project_id=first.projects("vision")[0]["id"])
    run_id = first.create_run(body, "u")
    expected = first.get_run(run_id, None)
    first._db.executescript("DROP TRIGGER runs_doc_insert; DROP TRIGGER runs_doc_update; "
                            "UPDATE runs SET doc = NULL; PRAGMA user_version = 0;")  # as an older version left it
    first.close()
    second = EmulatorStore(path, clock=ManualClock())
    assert second.get_run(run_id, None) == expected
    assert second.list_runs(rest.RunQuery(ids=[run_id])) == [expected]
    second.close()
