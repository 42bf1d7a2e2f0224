"""A sweep's own ``spec.promote``: its winner (the best checkpoint of all its points, by the metric) is promoted
once, after every point has finished, from the run that made it; on the emulator's clock, over loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, write_manifests
from tests.factories import checkpoints_and_models as server_state

RATES = [0.0001, 0.0003, 0.001, 0.003, 0.3]  # the last diverges: never the winner
MODEL = {"name": "classifier", "version": "2.0.0", "summary": "the lr sweep's winner"}


def lr_sweep(promote: list[dict[str, Any]] | None = None, **template: Any) -> dict[str, Any]:
    """A 5-point learning-rate sweep of 30 steps (a checkpoint every epoch of 10) promoting its best val/loss."""
    body = {"blueprint": {"name": "image-classifier", "version": "2.%"}, "resources": {"cpu": "1", "memory": "1Gi"},
            "config": classifier_config(epochs=3, ckpt_epoch_period=1)} | template
    winner = {"model": MODEL, "checkpoint": {"select": "best", "metric": "val/loss"}}
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "lr", "version": "1", "project": "vision"},
            "spec": {"template": body, "matrix": {"grid": {"config.learning_rate": RATES}},
                     "promote": [winner] if promote is None else promote}}


def expected_winner(server: BackgroundServer, ends: tuple[str, ...] = ("job_completed",)) -> tuple[str, str, int]:
    """(run name, checkpoint id, step) of the lowest val/loss at a complete checkpoint of a run that ended as one
    of ``ends``, read from the server's own checkpoints and metrics."""
    async def metrics(run_ids: list[str]) -> dict[str, dict[int, float]]:
        async with AsyncChariotClient(server.url) as client:
            found = {i: await client.get_all_metrics(i) for i in run_ids}
        return {i: {m.global_step: m.value for m in ms if m.tag == "val/loss" and m.value is not None}
                for i, ms in found.items()}

    runs = {r.id: r for r in live_runs(server) if r.status in ends}
    values = asyncio.run(metrics(sorted(i for i in runs if i)))
    checkpoints, _ = server_state(server)
    scored = [(values[c.run_id][c.global_step or 0], runs[c.run_id].name or "", c.id or "", c.global_step or 0)
              for c in checkpoints if c.run_id in runs and c.status == "complete"
              and (c.global_step or 0) in values[c.run_id or ""]]
    _, name, checkpoint_id, step = min(scored)
    return name, checkpoint_id, step


def test_a_sweep_promotes_its_winner_once_every_point_has_finished(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "sweep.yaml", lr_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 12)  # the diverged point has failed; the others train
    early = run_cli("plan")
    assert "sweep lr: promote classifier@2.0.0: waiting for every point to finish (1 of 5 finished)" in early.stdout
    assert "promote" not in json.loads(run_cli("plan", "--format", "json").stdout)["summary"], early.stdout
    clock.advance(30)
    name, checkpoint_id, step = expected_winner(server)
    text = run_cli("plan").stdout
    assert "rule: sweep lr: spec.promote best by val/loss (min) of 5 points" in text, text
    assert f"vision/{name}@1: checkpoint at step {step} will be promoted to model classifier@2.0.0 (the best " \
           "checkpoint of the 4 of its 5 points that finished well: val/loss " in text, text  # one count
    done = run_cli("reconcile", "--format", "json")
    assert done.exit_code == 0, done.output
    (promoted,) = [o for o in json.loads(done.stdout)["done"] if o["kind"] == "promote"]
    assert promoted["address"] == f"vision/{name}@1" and promoted["ok"]
    _, models = server_state(server)
    (model,) = [m for m in models if (m.name, m.version) == ("classifier", "2.0.0")]
    assert model.checkpoint_id == checkpoint_id, f"not the sweep's best checkpoint (step {step})"
    assert json.loads(run_cli("reconcile", "--format", "json").stdout)["done"] == [], "promoted twice"
    assert len([m for m in server_state(server)[1] if m.name == "classifier"]) == 1
    report = run_cli("report").stdout
    assert f"classifier@2.0.0 <- checkpoint step {step} of vision/{name}@1" in report, report


def test_a_retention_by_another_metric_never_deletes_the_winner_it_promotes(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    """Keep each point's highest val/loss (its first checkpoint, as the loss falls), promote the lowest: the
    winner's best checkpoint survives the plan that promotes it, and every later one."""
    worst = {"keep": {"best": {"metric": "val/loss", "mode": "max", "count": 1}}}
    write_manifests(workdir / "runs" / "sweep.yaml", lr_sweep(checkpoints=worst))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 45)
    _, checkpoint_id, _ = expected_winner(server)
    for _ in range(2):
        assert run_cli("reconcile").exit_code == 0
    checkpoints, models = server_state(server)
    assert [m.checkpoint_id for m in models] == [checkpoint_id]
    assert checkpoint_id in {c.id for c in checkpoints}, "the promoted checkpoint was deleted"
    completed = [r for r in live_runs(server) if r.status == "job_completed"]
    assert len(checkpoints) == len(completed) + 1, "retention kept more than each point's worst and the winner's best"


def test_a_sweep_promotes_nothing_from_part_of_itself(workdir: Path, server: BackgroundServer,
                                                      clock: ManualClock) -> None:
    """--target on some points: the best of a part is not the sweep's winner, so nothing is promoted."""
    write_manifests(workdir / "runs" / "sweep.yaml", lr_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 45)
    part = run_cli("plan", "--format", "json", "--target", "vision/lr-lr0.0001")
    assert part.exit_code == 0 and "promote" not in json.loads(part.stdout)["summary"], part.stdout
    assert "promote" in json.loads(run_cli("plan", "--format", "json").stdout)["summary"]


def test_a_sweep_promotion_that_is_not_a_best_is_refused_at_its_line(workdir: Path) -> None:
    path = workdir / "runs" / "sweep.yaml"
    write_manifests(path, lr_sweep(promote=[{"model": MODEL, "checkpoint": {"select": "last"}}]))
    refused = run_cli("plan")
    assert refused.exit_code == 1
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "select: last" in text)
    assert f"sweep.yaml:{line}" in refused.stderr and "a sweep promotes its winner: select: best" in refused.stderr


def test_a_model_of_that_version_made_otherwise_is_a_located_conflict(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "sweep.yaml", lr_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 45)
    checkpoints, _ = server_state(server)

    async def by_hand() -> None:
        async with AsyncChariotClient(server.url) as client:
            await client.create_model_from_checkpoint(checkpoint_id=checkpoints[0].id or "", name="classifier",
                                                      version="2.0.0", summary="made by hand")
    asyncio.run(by_hand())
    plan = run_cli("plan")
    assert plan.exit_code == 1 and "already exists" in plan.stderr + plan.stdout
    assert "sweep.yaml:" in plan.stderr + plan.stdout


def test_adding_a_promotion_to_a_sweep_that_trains_changes_none_of_its_runs(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    path = workdir / "runs" / "sweep.yaml"
    write_manifests(path, lr_sweep(promote=[]))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 12)
    write_manifests(path, lr_sweep())
    unchanged = run_cli("plan", "--detailed-exitcode")
    assert unchanged.exit_code == 0 and "waiting for every point to finish" in unchanged.stdout, unchanged.output


def test_a_rendered_point_carrying_a_sweep_promotion_that_is_not_a_best_is_refused(workdir: Path) -> None:
    """`render` writes the sweep's promotion into each point's metadata.sweep; one edited there is checked too."""
    point = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
             "metadata": {"name": "lr-lr0.001", "version": "1", "project": "vision", "sweep": {
                 "name": "lr", "point": "lr0.001", "promote": [{"model": MODEL, "checkpoint": {"select": "last"}}]}},
             "spec": {"blueprint": {"name": "image-classifier"}, "resources": {"cpu": "1", "memory": "1Gi"},
                      "config": classifier_config()}}
    write_manifests(workdir / "runs" / "point.yaml", point)
    refused = run_cli("plan")
    assert refused.exit_code == 1 and "a sweep promotes its winner: select: best" in refused.stderr, refused.output
    assert "point.yaml:" in refused.stderr


def test_a_sweep_stopped_in_bulk_promotes_nothing(workdir: Path, server: BackgroundServer,
                                                  clock: ManualClock) -> None:
    """Like a run declared stopped, a sweep stopped with `state: stopped` is abandoned: its points' checkpoints
    are there (one epoch's each), but no winner is promoted, and the plan does not say it waits for one."""
    path = workdir / "runs" / "sweep.yaml"
    write_manifests(path, lr_sweep())
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 15)
    stopped = lr_sweep()
    stopped["spec"]["state"] = "stopped"
    write_manifests(path, stopped)
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(30)
    assert {r.status for r in live_runs(server)} == {"job_terminated", "job_failed"}
    assert expected_winner(server, ends=("job_terminated",))[2] == 10  # there was something to promote
    plan = run_cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0 and "sweep lr: promote" not in plan.stdout, plan.output
    assert run_cli("reconcile").exit_code == 0 and server_state(server)[1] == []
