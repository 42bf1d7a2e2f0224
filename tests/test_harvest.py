"""Models from checkpoints and checkpoint retention, declared in the run's manifest, on the emulator's
clock-driven lifecycle (a step a second of its manual clock; a checkpoint after each epoch's validation pass, every
10 steps, complete at the next step)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, manifest, write_manifests
from tests.factories import checkpoints_and_models as state


def promoted(select: dict[str, object], version: str = "1.0.0", when: str = "available",
             **spec: object) -> dict[str, object]:
    """A run that promotes a checkpoint; ``when: available`` here (these tests watch checkpoints as they come)."""
    return manifest("a", config=classifier_config(epochs=3),
                    promote=[{"model": {"name": "traffic", "version": version, "summary": "Best so far"},
                              "checkpoint": select, "when": when}], **spec)


def test_a_promotion_waits_for_a_complete_checkpoint_then_happens_once(workdir: Path, server: BackgroundServer,
                                                                       clock: ManualClock) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, promoted({"select": "last"}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 10)  # step 10: its checkpoint is still being written
    waiting = run_cli("plan")
    assert "promote traffic@1.0.0: waiting for a complete checkpoint" in waiting.stdout
    assert "to promote" not in waiting.stdout
    clock.advance(1)  # step 11: the step-10 checkpoint is complete
    ready = run_cli("plan", "--detailed-exitcode")
    assert ready.exit_code == 2 and "checkpoint at step 10 will be promoted to model traffic@1.0.0" in ready.stdout
    assert "Lifecycle: 1 to promote." in ready.stdout
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    (model,) = state(server)[1]
    (run,) = live_runs(server)
    step10 = next(c for c in state(server)[0] if c.global_step == 10)
    assert (model.name, model.version, model.checkpoint_id) == ("traffic", "1.0.0", step10.id)
    assert model.summary == f"Best so far\n\n[chariot-apply owner=team-test run={run.id}]"
    clock.advance(5)  # more checkpoints later: the model stays as made
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout, again.output
    assert len(state(server)[1]) == 1


def test_best_by_a_metric_and_a_step(workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "best", "metric": "val/loss", "mode": "min"}))
    run_cli("apply", "--auto-approve")
    clock.advance(START + 31)  # finished: checkpoints at 10, 20, 30; loss falls, so the last is the best
    assert "checkpoint at step 30 will be promoted" in run_cli("plan").stdout
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "best", "metric": "val/accuracy", "mode": "min"}))
    assert "checkpoint at step 10 will be promoted" in run_cli("plan").stdout
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "step", "step": 20}))
    assert "checkpoint at step 20 will be promoted" in run_cli("plan").stdout
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "step", "step": 25}))
    assert "waiting for a complete checkpoint at step 25" in run_cli("plan").stdout
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "best"}))
    invalid = run_cli("validate")
    assert invalid.exit_code == 1 and "select: best needs a metric" in invalid.stderr


def test_a_foreign_model_at_that_name_and_version_is_a_conflict(workdir: Path, server: BackgroundServer,
                                                                clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "last"}))
    run_cli("apply", "--auto-approve")
    clock.advance(START + 30)

    async def theirs() -> None:
        async with AsyncChariotClient(server.url) as client:
            (checkpoint, *_) = await client.get_checkpoints(limit=10)
            await client.create_model_from_checkpoint(checkpoint_id=checkpoint.id or "", name="traffic",
                                                      version="1.0.0", summary="made by hand")

    asyncio.run(theirs())
    plan = run_cli("plan")
    assert plan.exit_code == 1 and "conflict: model traffic@1.0.0 already exists" in plan.stdout
    assert run_cli("apply", "--auto-approve").exit_code == 1
    assert len(state(server)[1]) == 1  # never a second model


def test_retention_deletes_exactly_the_others_and_never_a_promoted_one(workdir: Path, server: BackgroundServer,
                                                                      clock: ManualClock) -> None:
    run_spec = {"config": classifier_config(epochs=6)}
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", **run_spec))
    run_cli("apply", "--auto-approve")
    clock.advance(START + 61)  # finished (the last validation pass is done): checkpoints at 10 .. 60
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", **run_spec, promote=[
        {"model": {"name": "keeper", "version": "1.0.0"}, "checkpoint": {"select": "step", "step": 20}}]))
    assert run_cli("apply", "--auto-approve").exit_code == 0  # a model from step 20
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", **run_spec, promote=[
        {"model": {"name": "keeper", "version": "1.0.0"}, "checkpoint": {"select": "step", "step": 20}}],
        checkpoints={"keep": {"last": 1, "best": {"metric": "val/accuracy", "mode": "min", "count": 1}}}))
    plan = run_cli("plan")
    assert "3 checkpoint(s) will be deleted" in plan.stdout, plan.stdout
    assert '- 3 checkpoint(s) of run "vision/a@1.0.0" (steps 30, 40, 50)' in plan.stdout
    assert '- run "vision/a@1.0.0"' not in plan.stdout  # never drawn as deleting the run
    by_step = {c.global_step: c.id for c in state(server)[0]}
    doomed = {by_step[30], by_step[40], by_step[50]}  # kept: 60 (last), 10 (lowest accuracy), 20 (a model's)
    assert all(f"- checkpoint {cid}" in plan.stdout for cid in doomed)
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert {c.id for c in state(server)[0]} == {by_step[10], by_step[20], by_step[60]}
    assert "No changes" in run_cli("plan").stdout


def test_a_promotion_waits_for_the_run_to_finish_by_default(workdir: Path, server: BackgroundServer,
                                                            clock: ManualClock) -> None:
    """`select: best` while the run trains would register an early checkpoint as that version for good."""
    write_manifests(workdir / "runs" / "a.yaml", promoted({"select": "best", "metric": "val/loss"}, when="finished"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 12)  # complete checkpoints exist, but the run is still training
    training = run_cli("plan", "--detailed-exitcode")
    assert training.exit_code == 0 and "promote traffic@1.0.0: waiting for the run to finish" in training.stdout
    assert state(server)[1] == []
    clock.advance(10_000)  # finished
    done = run_cli("plan", "--detailed-exitcode")
    assert done.exit_code == 2 and "will be promoted to model traffic@1.0.0" in done.stdout
    assert '+ model "traffic@1.0.0" <- checkpoint step' in done.stdout  # said as a model, not a run
