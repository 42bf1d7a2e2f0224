"""Reconcile soak: ``chariot-apply reconcile`` run round after round, two processes at once each round, against the
served emulator while it misbehaves, as cron would on a checkout of the default branch. The emulator's clock moves
on between rounds (runs train, finish, fail and pass their limits), and its answers are dated by it.

Prints what must be zero (duplicate runs, models made twice, checkpoints deleted that a model came from, declared
drift applied, retries beyond maxRetries) and what the lifecycle did. Asserts nothing; the tests run a short one.

    .venv/bin/python bench/reconcile_soak.py                      # 20 rounds in pairs at 10 % faults
    .venv/bin/python bench/reconcile_soak.py --rounds 6 --json    # what the tests run

The manifests: runs that promote their best checkpoint once finished and keep the last one, with a maxDuration
that most pass; runs of which 30 % fail, each retried from its last checkpoint (maxRetries 2); a chain
(pretrain -> two fine-tunes referring to its model and its best checkpoint); a 3-point sweep promoting its winner
(the best val/loss of its points, once all have finished, retries included); and, after the first apply, one
declared run more that only `apply` may create.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Checkpoint, Model, Run
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.ownership import parse_notes

OWNER = "reconcile-soak"
PROJECT = "vision"
PRETRAIN = f"{PROJECT}/pretrain@1.0.0"
MAX_RETRIES = 2
#: Seconds the emulator's clock moves on between rounds (a step a second).
ROUND_SECONDS = 45
#: The share of runs (trained from scratch) that fail.
FAIL_PROBABILITY = 0.3
#: The limited runs' maxDuration.
LIMIT_SECONDS = 300


@dataclass
class Figures:
    rounds: int
    fault_rate: float
    faults_injected: int = 0
    reconciles: int = 0
    reconciles_failed: int = 0  # ended in an error (expected under faults: the next one carries on)
    reconciles_busy: int = 0  # found the other of its pair holding the workspace
    stops: int = 0
    creates: int = 0
    promotions: int = 0
    checkpoint_deletions: int = 0
    converged: bool = False
    rounds_to_converge: int = 0
    duplicates: int = 0  # addresses with two live (not failed) runs of ours
    models_made_twice: int = 0
    model_checkpoints_deleted: int = 0  # models whose checkpoint is gone
    drift_applied: int = 0  # declared runs that only `apply` may create, created by reconcile
    retries_beyond_max: int = 0
    chain_out_of_order: int = 0  # a fine-tune created before its upstream finished
    past_limit_still_running: int = 0
    sweep_winner_not_best: int = 0  # the sweep's model is not its best checkpoint among the points that finished
    sweep_promoted_early: int = 0  # the sweep's model was made before its last point finished
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


#: Every run is retried from its last checkpoint when it fails (a share of runs fails, each at a step of its own).
RETRIED = {"action": "recreate", "maxRetries": MAX_RETRIES, "resume": "lastCheckpoint"}


def _run(name: str, config: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body = {"blueprint": {"name": "image-classifier", "version": "2.%"}, "taskType": "Image Classification",
            "resources": {"cpu": "1", "memory": "1Gi"}, "config": {"dataset_id": "soak", "ckpt_epoch_period": 2,
                                                                  **config},
            "onFailure": RETRIED, **spec}
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
            "metadata": {"name": name, "version": "1.0.0", "project": PROJECT}, "spec": body}


def manifests() -> list[dict[str, Any]]:
    docs = []
    for i in range(4):  # 200 to 800 steps; the limit (5 min) stops all but the shortest
        docs.append(_run(f"limited-{i}", {"epochs": 20 + 20 * i, "learning_rate": 0.001 * (i + 1)},
                         limits={"maxDuration": f"{LIMIT_SECONDS}s"}, checkpoints={"keep": {"last": 1}},
                         promote=[{"model": {"name": f"model-limited-{i}", "version": "1.0.0"},
                                   "checkpoint": {"select": "best", "metric": "val/loss"}}]))
    for i in range(2):
        docs.append(_run(f"flaky-{i}", {"epochs": 30, "ckpt_epoch_period": 3}))
    docs.append(_run("pretrain", {"epochs": 15}, promote=[{"model": {"name": "base", "version": "1.0.0"}}]))
    docs.append(_run("finetune-model", {"epochs": 5, "start_model": {"model_id": "${run:" + PRETRAIN + ".model}"}}))
    docs.append(_run("finetune-best", {"epochs": 5, "start_model": {
        "checkpoint_id": "${run:pretrain@1.0.0.checkpoint.best(metric=val/loss)}"}}))
    docs.append(SWEEP)
    return docs


#: The sweep whose winner is promoted: its points fail and are retried like the others.
SWEEP = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
         "metadata": {"name": "sweep", "version": "1.0.0", "project": PROJECT},
         "spec": {"template": _run("template", {"epochs": 10})["spec"],
                  "matrix": {"grid": {"config.learning_rate": [0.0005, 0.001, 0.004]}},
                  "promote": [{"model": {"name": "sweep-winner", "version": "1.0.0"},
                               "checkpoint": {"select": "best", "metric": "val/loss"}}]}}
WINNER = SWEEP["spec"]["promote"][0]["model"]["name"]


DRIFT = _run("declared-later", {"epochs": 5})


def cli(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chariot_apply.cli.main", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


async def _read(url: str) -> tuple[list[Run], list[Checkpoint], list[Model]]:
    async with AsyncChariotClient(url) as client:
        runs = [r async for r in client.iter_runs(project_ids=[await client.get_project_id(PROJECT)])]
        checkpoints: list[Checkpoint] = []
        while page := await client.get_checkpoints(limit=1000, offset=len(checkpoints)):
            checkpoints += page
        return runs, checkpoints, await client.get_models()


@contextlib.contextmanager
def no_faults(faults: Faults) -> Iterator[None]:
    """The soak's own looks go around the faults: they are not what is tested."""
    rate, faults.failure_rate = faults.failure_rate, 0.0
    try:
        yield
    finally:
        faults.failure_rate = rate


def read(url: str, faults: Faults) -> tuple[list[Run], list[Checkpoint], list[Model]]:
    """Everything, read around the faults."""
    with no_faults(faults):
        return asyncio.run(_read(url))


async def _val_losses(url: str, run_ids: list[str]) -> dict[str, dict[int, float]]:
    async with AsyncChariotClient(url) as client:
        return {i: {m.global_step: m.value for m in await client.get_all_metrics(i)
                    if m.tag == "val/loss" and m.value is not None} for i in run_ids}


def sweep_best(url: str, faults: Faults, runs: list[Run], checkpoints: list[Checkpoint]) -> str | None:
    """The id of the checkpoint with the lowest val/loss among the sweep's points that finished well."""
    finished = [r for r in _ours(runs) if (r.name or "").startswith("sweep-")
                and r.status in ("job_completed", "job_terminated")]
    with no_faults(faults):
        values = asyncio.run(_val_losses(url, [r.id or "" for r in finished]))
    scored = [(values[c.run_id][c.global_step or 0], c.id or "") for c in checkpoints
              if c.run_id in values and c.status == "complete" and (c.global_step or 0) in values[c.run_id]]
    return min(scored)[1] if scored else None


def soak(rounds: int, fault_rate: float, seed: int, client_timeout: float) -> Figures:
    figures = Figures(rounds=rounds, fault_rate=fault_rate)
    faults = Faults(rng=random.Random(seed))
    clock = ManualClock()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chariot-reconcile-soak-") as tmp:
        root = Path(tmp)
        timing = replace(LifecycleTiming(), fail_probability=FAIL_PROBABILITY)
        store = EmulatorStore(root / "emulator.db", timing=timing, clock=clock)
        with BackgroundServer(create_app(store, faults=faults)) as server:
            (root / "chariot-apply.yaml").write_text(f"owner: {OWNER}\nproject: {PROJECT}\nmanifests: [runs/]\n")
            (root / "runs").mkdir()
            (root / "runs" / "runs.yaml").write_text(yaml.safe_dump_all(manifests(), sort_keys=False))
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHARIOT")}
            env |= {"CHARIOT_URL": server.url, "CHARIOT_TIMEOUT": str(client_timeout)}
            first = cli(root, env, "apply", "--auto-approve")
            if first.returncode != 0:
                figures.notes.append(f"the first apply failed: {first.stdout[-400:]} {first.stderr[-400:]}")
                return figures
            (root / "runs" / "later.yaml").write_text(yaml.safe_dump(DRIFT, sort_keys=False))
            seen: dict[str, dict[str, Any]] = {}  # by run id: what was seen of it, to check the chain's order
            faults.failure_rate = fault_rate
            with ThreadPoolExecutor(2) as pool:
                for _ in range(rounds):
                    clock.advance(ROUND_SECONDS)
                    pair = list(pool.map(lambda _: cli(root, env, "reconcile", "--format", "json"), range(2)))
                    for done in pair:
                        _count(figures, done)
                    _watch(seen, read(server.url, faults)[0])
            figures.faults_injected = faults.injected
            faults.failure_rate = 0.0
            for attempt in range(1, 30):  # no faults: runs finish and the lifecycle settles
                clock.advance(ROUND_SECONDS * 4)
                done = cli(root, env, "reconcile", "--format", "json")
                _count(figures, done)
                _watch(seen, read(server.url, faults)[0])
                document = json.loads(done.stdout) if done.stdout.startswith("{") else {"error": done.stderr}
                settled = "error" not in document and not document["done"] and not document["waiting"]
                if settled and _all_finished(read(server.url, faults)[0]):
                    figures.converged, figures.rounds_to_converge = True, attempt
                    break
            if not figures.converged:
                runs = read(server.url, faults)[0]
                figures.notes.append(f"not converged: the last reconcile said {done.stdout[-600:]}; runs: "
                                     + ", ".join(f"{r.name} {r.status}" for r in _ours(runs)))
            runs, checkpoints, models = read(server.url, faults)
            _check(figures, runs, checkpoints, models, seen, clock.now().timestamp())
            winner = [m for m in models if m.name == WINNER]
            best = sweep_best(server.url, faults, runs, checkpoints)
            figures.sweep_winner_not_best = sum(1 for m in winner if m.checkpoint_id != best) + (not winner)
            last = max((r.status_updated_at for r in _ours(runs) if (r.name or "").startswith("sweep-")
                        and r.status_updated_at), default=None)
            figures.sweep_promoted_early = sum(1 for m in winner if m.created_at and last and m.created_at < last)
        store.close()
    figures.seconds = round(time.perf_counter() - started, 1)
    return figures


def _count(figures: Figures, done: subprocess.CompletedProcess[str]) -> None:
    figures.reconciles += 1
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        figures.reconciles_failed += 1
        figures.notes.append(f"not JSON (exit {done.returncode}): {done.stderr[-300:]}")
        return
    if "error" in document:  # the plan failed (under faults): said as a document too
        figures.reconciles_failed += 1
        figures.notes.append(f"failed (exit {done.returncode}): {document['error'][:300]}")
        return
    figures.reconciles_busy += document["busy"]
    failed = done.returncode not in (0, 2) or not all(o["ok"] for o in document["done"])
    figures.reconciles_failed += failed
    if failed:
        figures.notes.append("; ".join([*(f"{o['address']}: {o['kind']}: {o['detail']}" for o in document["done"]
                                          if not o["ok"]), *(a["detail"] for a in document["attention"])])[:500])
    for outcome in document["done"]:
        if outcome["ok"]:
            kind = outcome["kind"]
            figures.stops += kind == "stop"
            figures.creates += kind == "create"
            figures.promotions += kind == "promote"
            figures.checkpoint_deletions += kind == "delete-checkpoints"


def _ours(runs: list[Run]) -> list[Run]:
    return [r for r in runs if (m := parse_notes(r.notes)[1]) is not None and m.owner == OWNER]


def _watch(seen: dict[str, dict[str, Any]], runs: list[Run]) -> None:
    for run in _ours(runs):
        entry = seen.setdefault(run.id or "", {"name": run.name, "created": run.created_at, "finished": None})
        if run.status in ("job_completed", "job_terminated") and entry["finished"] is None:
            entry["finished"] = run.status_updated_at


def _all_finished(runs: list[Run]) -> bool:
    return all(r.status in ("job_completed", "job_terminated", "job_failed", "job_create_failed")
               for r in _ours(runs))


def _check(figures: Figures, runs: list[Run], checkpoints: list[Checkpoint], models: list[Model],
           seen: dict[str, dict[str, Any]], now: float) -> None:
    mine = _ours(runs)
    alive = Counter(r.name for r in mine if r.status != "job_failed")
    figures.duplicates = sum(n - 1 for n in alive.values() if n > 1)
    failed = Counter(r.name for r in mine if r.status == "job_failed")
    figures.retries_beyond_max = sum(max(0, n - (MAX_RETRIES + 1)) for n in failed.values())
    made = Counter((m.name, m.version) for m in models)
    figures.models_made_twice = sum(n - 1 for n in made.values() if n > 1)
    kept = {c.id for c in checkpoints}
    figures.model_checkpoints_deleted = sum(1 for m in models if m.checkpoint_id not in kept)
    figures.drift_applied = sum(1 for r in mine if r.name == DRIFT["metadata"]["name"])
    upstream = [e for e in seen.values() if e["name"] == "pretrain"]
    finished = min((e["finished"] for e in upstream if e["finished"]), default=None)
    figures.chain_out_of_order = sum(1 for r in mine if (r.name or "").startswith("finetune")
                                     and (finished is None or (r.created_at and r.created_at < finished)))
    figures.past_limit_still_running = sum(1 for r in mine if r.name and r.name.startswith("limited")
                                           and r.created_at and now - r.created_at.timestamp() > LIMIT_SECONDS + 60
                                           and r.status not in ("job_completed", "job_terminated", "job_failed"))


ZERO = ("duplicates", "models_made_twice", "model_checkpoints_deleted", "drift_applied", "retries_beyond_max",
        "chain_out_of_order", "past_limit_still_running", "sweep_winner_not_best", "sweep_promoted_early")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client-timeout", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    figures = soak(args.rounds, args.fault_rate, args.seed, args.client_timeout)
    print(f"reconcile soak: {figures.rounds} rounds of 2 concurrent reconciles at {figures.fault_rate:.0%} faults "
          f"({figures.faults_injected} injected), {figures.seconds} s")
    print(f"  reconciles: {figures.reconciles} ({figures.reconciles_failed} ended in an error, "
          f"{figures.reconciles_busy} found the other holding the workspace)")
    print(f"  lifecycle: {figures.stops} stops, {figures.creates} creates (retries and the chain), "
          f"{figures.promotions} promotions, {figures.checkpoint_deletions} checkpoint deletions")
    print(f"  converged: {figures.converged} after {figures.rounds_to_converge} clean reconcile(s)")
    print("  must be zero: " + ", ".join(f"{name.replace('_', ' ')} {getattr(figures, name)}" for name in ZERO))
    for note in figures.notes[-3:]:
        print(f"  note: {note}")
    if args.json:
        print(json.dumps({k: v for k, v in figures.__dict__.items()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
