"""The emulator trains like a real blueprint (issue 21): curves that follow the config, the blueprints' tags and
progress operations, checkpoints every ``ckpt_epoch_period`` epochs, GPUs that run out, and the failures real runs
have. Each test drives the real client over the emulator's HTTP app on a manual clock."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Gpu, Metric
from chariot_apply.emulator.catalog import GpuSeed
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.emulator.training import FAMILIES
from tests.factories import classifier_config, new_run, resources

pytestmark = pytest.mark.anyio

START = 6  # seconds from create to the first step
SWEEP = [1e-5, 1e-4, 1e-3, 1e-2, 0.5]


def by_tag(metrics: list[Metric], tag: str) -> list[float | None]:
    return [m.value for m in sorted(metrics, key=lambda m: m.global_step) if m.tag == tag]


async def statuses(client: AsyncChariotClient, run_id: str) -> list[str]:
    return [e.status for e in await client.get_events(run_id, sort=["sequence:asc"], limit=1000)]


async def last_reason(client: AsyncChariotClient, run_id: str) -> str:
    (event,) = await client.get_events(run_id, limit=1)
    return str(event.details.get("reason"))


def gpu_run(count: int = 1, kind: str = "A100", **overrides: str):
    return resources(gpu=Gpu(count=count, type=kind), **overrides)


async def test_a_learning_rate_sweep_gives_different_curves_and_one_clear_best(client: AsyncChariotClient,
                                                                                 clock: ManualClock) -> None:
    ids = [await new_run(client, f"lr-{i}", config=classifier_config(epochs=8, learning_rate=lr))
           for i, lr in enumerate(SWEEP)]
    clock.advance(START + 81)
    curves = [by_tag(await client.get_all_metrics(run_id), "val/loss") for run_id in ids]
    finished = [c for c in curves[:4]]
    assert all(len(c) == 8 for c in finished) and len({tuple(c) for c in finished}) == 4  # all different
    final = {lr: c[-1] for lr, c in zip(SWEEP[:4], finished, strict=True)}
    best = min(final, key=lambda lr: final[lr] or math.inf)
    assert best == FAMILIES["classification"].usual_rate  # the rate the model trains best at
    ranked = sorted(final.values(), key=lambda v: v or math.inf)
    assert ranked[0] is not None and ranked[1] is not None and ranked[0] < 0.8 * ranked[1]  # clearly the best
    assert [(await client.get_run(i)).status for i in ids] == ["job_completed"] * 4 + ["job_failed"]
    too_high = await client.get_all_metrics(ids[4])
    assert by_tag(too_high, "train/loss")[-1] is None  # not a number: null, as a blueprint sends it
    assert "training diverged" in await last_reason(client, ids[4]) and "0.5" in await last_reason(client, ids[4])


async def test_more_epochs_go_further_and_bigger_batches_take_fewer_steps(client: AsyncChariotClient,
                                                                           clock: ManualClock) -> None:
    short, long_, big = (await new_run(client, "short", config=classifier_config(epochs=2)),
                         await new_run(client, "long", config=classifier_config(epochs=6)),
                         await new_run(client, "big", config=classifier_config(epochs=2, batch_size=64)))
    clock.advance(START + 61)
    runs = {name: await client.get_run(i) for name, i in (("short", short), ("long", long_), ("big", big))}
    assert [(r.progress or [])[0].final_value for r in runs.values()] == [20, 60, 10]  # epochs x ceil(320 / batch)
    short_loss, long_loss = [by_tag(await client.get_all_metrics(i), "val/loss")[-1] for i in (short, long_)]
    assert long_loss is not None and short_loss is not None and long_loss < short_loss


async def test_checkpoints_follow_ckpt_epoch_period(client: AsyncChariotClient, clock: ManualClock) -> None:
    every_two = await new_run(client, "p2", config=classifier_config(epochs=6, ckpt_epoch_period=2))
    yolo = await new_run(client, "obb", blueprint="yolo-obb", task_type="Oriented Object Detection",
                         config={"datasets": {"train_data": [{"snapshot_id": "s1"}], "val_data": None},
                                 "epochs": 10})
    clock.advance(START + 201)
    assert await client.get_global_steps_with_checkpoints(every_two) == [20, 40, 60]
    # yolo-obb's own schema: batch_size 16 (20 steps an epoch over 320 samples), ckpt_epoch_period 5
    assert await client.get_global_steps_with_checkpoints(yolo) == [100, 200]


async def test_a_detector_reports_the_blueprints_tags_with_nulls_and_two_progress_operations(
        client: AsyncChariotClient, clock: ManualClock, store: EmulatorStore) -> None:
    run_id = await new_run(client, "obb", blueprint="yolo-obb", task_type="Oriented Object Detection",
                           config={"datasets": {"train_data": [{"snapshot_id": "dota-v1-train"}],
                                                "val_data": [{"snapshot_id": "dota-v1-val", "split": "val"}]},
                                   "epochs": 3, "idx_to_class": {"0": "plane", "1": "ship"}})
    steps = 1600 // 16  # dota-v1-train has 1,600 samples in the catalog
    clock.advance(START + steps + 0.1)  # during the first validation pass, just after the epoch's last step
    run = await client.get_run(run_id)
    assert [(p.operation, p.units) for p in run.progress or []] == [("Training", "steps"), ("Evaluating", "batches")]
    assert (run.progress or [])[0].final_value == 3 * steps
    clock.advance(0.5)  # the pass is done: its results are at the epoch's last step
    at_epoch_end = await client.get_metrics(run_id, global_steps=[steps])
    tags = {m.tag: m.value for m in at_epoch_end}
    assert {"metrics/mAP50(B)", "metrics/precision(B)", "val/box_loss", "train/loss", "train/lr",
            "dota-v1-val/val/mAP_IOU0.5", "dota-v1-val/val/plane_AP_IOU0.5"} <= set(tags)
    assert tags["dota-v1-val/val/ship_AP_IOU0.5"] is None  # no ship found yet: null
    assert [p.operation for p in (await client.get_run(run_id)).progress or []] == ["Training"]
    clock.advance(2 * steps + 1)  # done: with ckpt_epoch_period 5, the only checkpoint is the last
    (checkpoint,) = await client.get_checkpoints(run_ids=[run_id])
    files = store.checkpoint_files(checkpoint.id or "")
    assert set(files) == {"model.pt", "chariot_model_config.json"}


async def test_three_runs_on_two_gpus_one_waits_until_one_ends(client: AsyncChariotClient, clock: ManualClock,
                                                                store: EmulatorStore) -> None:
    store.set_gpus([GpuSeed(type="A100", count=2)])
    short = await new_run(client, "short", config=classifier_config(epochs=1), resources=gpu_run())
    long_ = await new_run(client, "long", config=classifier_config(epochs=5), resources=gpu_run())
    clock.advance(0.5)
    third = await new_run(client, "third", config=classifier_config(epochs=1), resources=gpu_run())
    clock.advance(START + 2)
    assert [(await client.get_run(i)).status for i in (short, long_, third)] == \
        ["job_running", "job_running", "job_pending"]
    assert await last_reason(client, third) == "waiting for 1 x A100 GPUs: 0 of 2 free"
    clock.advance(600)  # far beyond: the third started the moment the short one ended, not at this read
    assert [(await client.get_run(i)).status for i in (short, long_, third)] == ["job_completed"] * 3
    ended = (await client.get_events(short, limit=1))[0].created_at
    started = next(e for e in await client.get_events(third, limit=100) if e.status == "job_running").created_at
    assert 0 <= (started - ended).total_seconds() <= 2.5
    # job_pending once as it queued (GPUs were free then), and again when it found none free, saying why
    assert [s for s in await statuses(client, third) if s == "job_pending"] == ["job_pending"] * 2


async def test_a_stopped_run_frees_its_gpus_for_the_one_waiting(client: AsyncChariotClient, clock: ManualClock,
                                                                 store: EmulatorStore) -> None:
    store.set_gpus([GpuSeed(type="T4", count=1)])
    first = await new_run(client, "first", config=classifier_config(epochs=50), resources=gpu_run(kind="T4"))
    clock.advance(1)
    waiting = await new_run(client, "second", config=classifier_config(epochs=1), resources=gpu_run(kind="T4"))
    clock.advance(START + 1)
    assert (await client.get_run(waiting)).status == "job_pending"
    await client.delete_run(first)
    clock.advance(START + 11)
    assert (await client.get_run(waiting)).status == "job_completed"


async def test_more_gpus_than_the_cluster_has_is_job_create_failed(client: AsyncChariotClient,
                                                                    clock: ManualClock) -> None:
    too_many = await new_run(client, "huge", resources=gpu_run(count=17))  # the catalog has 16 A100
    no_such = await new_run(client, "odd", resources=gpu_run(kind="B200"))
    clock.advance(5)
    assert (await client.get_run(too_many)).status == "job_create_failed"
    assert await last_reason(client, too_many) == "the run asks for 17 x A100 GPUs; the cluster has 16"
    assert "the cluster has no B200 GPUs (it has: 16 x A100" in await last_reason(client, no_such)


async def test_a_batch_too_big_for_the_memory_runs_out_of_memory(client: AsyncChariotClient,
                                                                  clock: ManualClock) -> None:
    oom = await new_run(client, "oom", config=classifier_config(batch_size=256, architecture="vit-b16"))
    fits = await new_run(client, "fits", config=classifier_config(batch_size=256, architecture="vit-b16"),
                         resources=resources(memory="8Gi"))
    on_gpu = await new_run(client, "gpu", config=classifier_config(batch_size=256, architecture="vit-b16"),
                           resources=gpu_run(kind="T4"))  # 16 GiB of GPU memory hold the batch
    clock.advance(START + 20)
    assert [(await client.get_run(i)).status for i in (oom, fits, on_gpu)] == \
        ["job_failed", "job_completed", "job_completed"]
    (event,) = await client.get_events(oom, limit=1)
    assert "out of memory: vit-b16 with batch size 256 needs about" in event.details["reason"]
    assert event.details["exit_code"] == 137


async def test_a_missing_start_model_fails_at_start_and_an_existing_one_trains(client: AsyncChariotClient,
                                                                                clock: ManualClock) -> None:
    base = await new_run(client, "base")
    clock.advance(START + 11)
    (checkpoint,) = await client.get_checkpoints(run_ids=[base])
    model_id = await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id or "", name="m",
                                                         version="1.0.0", summary="s")
    runs = {what: await new_run(client, what, config=classifier_config(start_model=start))
            for what, start in (("checkpoint", {"checkpoint_id": checkpoint.id}), ("model", {"model_id": model_id}),
                                ("no-checkpoint", {"checkpoint_id": "gone"}), ("no-model", {"model_id": "gone"}))}
    clock.advance(START + 11)
    assert {k: (await client.get_run(i)).status for k, i in runs.items()} == {
        "checkpoint": "job_completed", "model": "job_completed", "no-checkpoint": "job_failed",
        "no-model": "job_failed"}
    assert await last_reason(client, runs["no-checkpoint"]) == "start_model: checkpoint gone does not exist"
    assert await last_reason(client, runs["no-model"]) == "start_model: model gone does not exist"
    assert not await client.get_all_metrics(runs["no-model"])  # it never trained


async def test_a_restart_resumes_from_the_last_checkpoint(clock: ManualClock) -> None:
    from dataclasses import replace

    from chariot_apply.emulator.app import create_app
    from chariot_apply.emulator.faults import EmulatorTransport
    from chariot_apply.emulator.lifecycle import LifecycleTiming

    store = EmulatorStore(":memory:", clock=clock, timing=replace(LifecycleTiming(), restart_at_step=25))
    async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(create_app(store))) as client:
        run_id = await new_run(client, config=classifier_config(epochs=4))
        clock.advance(START + 100)
        seen = await statuses(client, run_id)
        assert seen[seen.index("run_restart_requested"):] == ["run_restart_requested", "job_pending", "job_running",
                                                              "job_completed"]
        (restart,) = [e for e in await client.get_events(run_id, limit=100) if e.status == "run_restart_requested"]
        assert restart.details["resume_from_step"] == 20
        steps = [m.global_step for m in await client.get_all_metrics(run_id) if m.tag == "train/loss"]
        assert sorted(steps) == sorted([*range(1, 25), *range(21, 41)])  # steps 21-24 were trained twice
    store.close()


def test_gpu_inventory_from_serve_and_the_environment_is_parsed_or_refused() -> None:
    from chariot_apply.diagnostics.errors import UserError
    from chariot_apply.workspace.connection import gpu_inventory

    assert [(g.type, g.count) for g in gpu_inventory("A100=8, T4=4") or []] == [("A100", 8), ("T4", 4)]
    assert gpu_inventory(None) is None and gpu_inventory(" ") is None  # the catalog's
    for bad in ("A100", "A100=x", "=3", "A100=1,a100=2"):
        with pytest.raises(UserError, match="GPUs"):
            gpu_inventory(bad)


def test_a_store_given_gpus_keeps_exactly_those(clock: ManualClock) -> None:
    store = EmulatorStore(":memory:", clock=clock, gpus=[GpuSeed(type="A100", count=2)])
    assert store.gpus() == [{"type": "A100", "count": 2}]
    store.close()


@pytest.mark.parametrize("jumps", [[START + 100], [START + 13, 0.5, 7, 30, 50]])
def test_a_catch_up_in_one_jump_leaves_what_step_by_step_leaves(jumps: list[float]) -> None:
    """Issue 40: a catch-up writes a run's checkpoints at its end (a statement a step was a third of its time). Each
    checkpoint is still saved incomplete and completed by the next step, whether the clock moved a second at a time
    or a hundred seconds at once: the rows are the same, to the microsecond."""
    from chariot_apply.emulator.app import create_app
    from chariot_apply.emulator.faults import EmulatorTransport

    def history(stepwise: bool) -> list[tuple[object, ...]]:
        clock = ManualClock(datetime(2026, 12, 7, tzinfo=UTC))
        store = EmulatorStore(":memory:", clock=clock)

        async def run() -> list[tuple[object, ...]]:
            async with AsyncChariotClient("http://emulator", transport=EmulatorTransport(create_app(store))) as c:
                run_id = await new_run(c, config=classifier_config(epochs=4, ckpt_epoch_period=1))
                for jump in jumps:
                    for _ in range(int(jump * 4) if stepwise else 1):  # a quarter second at a time
                        clock.advance(0.25 if stepwise else jump)
                        await c.get_run(run_id)
                found = await c.get_checkpoints(run_ids=[run_id], limit=100)
                return sorted((k.global_step, k.status, k.created_at, k.status_updated_at) for k in found)

        try:
            return asyncio.run(run())
        finally:
            store.close()

    at_once, stepwise = history(stepwise=False), history(stepwise=True)
    assert len(at_once) >= 2 and at_once == stepwise
