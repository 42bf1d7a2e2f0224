"""Soak: many apply cycles against the served emulator while it misbehaves, then clean applies until the plan
is empty. Prints what must be zero (duplicates, lost runs, unowned runs touched) and the applies it took to
converge. Asserts nothing; the tests run a short one and check the figures.

    .venv/bin/python bench/soak.py                          # 200 cycles at 10 % faults, every fault kind
    .venv/bin/python bench/soak.py --cycles 20 --json       # what the tests run

Each cycle edits the manifests at random (a run added; one removed, pruned; a config changed, replaced; a
state changed), then plans and applies with --prune through the library, as the CLI does. Faults include
the timeouts a real network has, a late commit among them; the client's timeout is shorter than a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml

from chariot_apply.apply.executor import Reporter
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Model, Run
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.faults import FaultKind, Faults
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.model import PlanOptions
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.usecases import applying, planning
from chariot_apply.workspace import project as project

OWNER = "soak"
PROJECT = "vision"
POOL = [f"soak-{i:02d}" for i in range(16)]
FOREIGN = 4
#: Training runs this much faster than real time, so that checkpoints complete and models are promoted between
#: cycles (the late commits of model creates are among the faults).
TIME_SCALE = 20


@dataclass
class Figures:
    cycles: int
    fault_rate: float
    faults_injected: int = 0
    cycles_failed: int = 0  # a plan or apply that ended in an error (expected under faults)
    transient_duplicates: int = 0  # addresses seen with two of our runs after a faulty cycle
    applies_to_converge: int = 0
    converged: bool = False
    duplicates: int = 0
    lost: int = 0
    undeclared_left: int = 0
    unowned_touched: int = 0
    models: int = 0  # models promoted over the soak
    models_made_twice: int = 0  # (name, version) pairs with more than one model: must stay 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def manifest(name: str, epochs: int, state: str, promote: bool = True) -> dict[str, Any]:
    """A run of the pool; with ``promote``, every other one promotes its last checkpoint to a model whose
    version follows its config (a replaced run promotes a version of its own)."""
    spec: dict[str, Any] = {
        "blueprint": {"name": "image-classifier", "version": "2.%"}, "taskType": "Image Classification",
        "resources": {"cpu": "1", "memory": "1Gi"}, "config": {"dataset_id": "soak", "epochs": epochs},
        "state": state, "allowReplace": True}
    if promote and int(name.rsplit("-", 1)[1]) % 2 == 0:
        spec["promote"] = [{"model": {"name": f"model-{name}", "version": f"1.0.{epochs}", "summary": "soak"},
                            "checkpoint": {"select": "last"}}]
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
            "metadata": {"name": name, "version": "1", "project": PROJECT}, "spec": spec}


def edit(declared: dict[str, dict[str, Any]], rng: random.Random, promote: bool = True) -> str:
    """One random change to the declared runs; what it was."""
    absent = [n for n in POOL if n not in declared]
    choice = rng.choice(["add", "add", "remove", "config", "state"] if declared else ["add"])
    if choice == "add" and absent:
        name = rng.choice(absent)
        declared[name] = manifest(name, rng.randint(1, 50), "running", promote)
        return f"add {name}"
    if not declared:
        return "nothing"
    name = rng.choice(sorted(declared))
    if choice == "remove":
        del declared[name]
        return f"remove {name}"
    if choice == "config":
        epochs = declared[name]["spec"]["config"]["epochs"] = rng.randint(1, 50)
        for promotion in declared[name]["spec"].get("promote", []):
            promotion["model"]["version"] = f"1.0.{epochs}"
        return f"config {name}"
    declared[name]["spec"]["state"] = rng.choice(["running", "stopped", "absent"])
    return f"state {name} {declared[name]['spec']['state']}"


async def cycle(ws: project.Workspace) -> tuple[bool, bool]:
    """(plan and apply succeeded, the plan had changes)."""
    try:
        plan = await planning.plan(ws, PlanOptions(owner=OWNER, prune=True))
        if plan.invalid:
            return False, True
        result = await applying.apply(ws, plan, Reporter(), check_stale=False)
        return result.ok, plan.has_changes
    except UserError:
        return False, True


async def live_runs(url: str) -> list[Run]:
    async with AsyncChariotClient(url) as client:
        return [r async for r in client.iter_runs(project_ids=[await client.get_project_id(PROJECT)])]


def ours(runs: list[Run]) -> list[Run]:
    return [r for r in runs if (m := parse_notes(r.notes)[1]) is not None and m.owner == OWNER]


async def seed_foreign(url: str) -> dict[str, tuple[str | None, str | None]]:
    """Runs chariot-apply does not own (no marker), beside ours: they must come out untouched."""
    async with AsyncChariotClient(url) as client:
        blueprint = await client.lookup_blueprint_id("image-classifier")
        project = await client.get_project_id(PROJECT)
        for i in range(FOREIGN):
            await client.create_run(name=f"foreign-{i}", version="1", resources=_small(), config={
                "dataset_id": "theirs", "epochs": 5}, task_type="Image Classification", blueprint_id=blueprint,
                project_id=project, notes=f"someone else's run {i}")
    return {r.id or "": (r.notes, r.status) for r in await live_runs(url) if r.name and r.name.startswith("foreign")}


def _small() -> Any:
    from chariot_apply.chariot.models import Resources

    return Resources(cpu="1", memory="1Gi")


def soak(cycles: int, fault_rate: float, seed: int, hang: float, client_timeout: float,
         kinds: tuple[FaultKind, ...], backend: str = "rest") -> Figures:
    rng = random.Random(seed)
    figures = Figures(cycles=cycles, fault_rate=fault_rate)
    faults = Faults(failure_kinds=kinds, hang_seconds=hang, rng=random.Random(seed + 1))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chariot-soak-") as tmp:
        root = Path(tmp)
        store = EmulatorStore(root / "emulator.db", timing=LifecycleTiming().scaled(TIME_SCALE))
        with BackgroundServer(create_app(store, faults=faults)) as server:
            (root / "chariot-apply.yaml").write_text(f"owner: {OWNER}\nproject: {PROJECT}\nmanifests: [runs/]\n")
            (root / "runs").mkdir()
            env = {"CHARIOT_URL": server.url, "CHARIOT_TIMEOUT": str(client_timeout)}
            if backend == "sdk":  # the stand-in SDK of the tests, configured by its own settings
                sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sdk"))
                os.environ["CHARIOT_SDK_STANDIN_URL"] = server.url
                os.environ["CHARIOT_SDK_STANDIN_TIMEOUT"] = str(client_timeout)
                env = {}
            ws = project.open_workspace(config=root / "chariot-apply.yaml", env=env,
                                         backend="sdk" if backend == "sdk" else "rest")
            foreign = asyncio.run(seed_foreign(server.url))
            declared: dict[str, dict[str, Any]] = {}

            def write() -> None:
                docs = [declared[n] for n in sorted(declared)]
                (root / "runs" / "runs.yaml").write_text(yaml.safe_dump_all(docs) if docs else "")

            faults.failure_rate = fault_rate
            for _ in range(cycles):
                edit(declared, rng, promote=backend == "rest")  # the SDK cannot list models: it refuses them
                write()
                ok, _ = asyncio.run(cycle(ws))
                figures.cycles_failed += not ok
                counts = Counter((r.name, r.version) for r in ours(asyncio.run(_quiet(server.url, faults))))
                figures.transient_duplicates += sum(1 for n in counts.values() if n > 1)
            figures.faults_injected = faults.injected
            faults.failure_rate = 0.0
            for attempt in range(1, 6):
                ok, changed = asyncio.run(cycle(ws))
                if ok and not changed:
                    figures.applies_to_converge, figures.converged = attempt, True
                    break
            live = asyncio.run(live_runs(server.url))
            mine = ours(live)
            counts = Counter((r.name, r.version) for r in mine)
            figures.duplicates = sum(n - 1 for n in counts.values() if n > 1)
            running = {n for n, m in declared.items() if m["spec"]["state"] == "running"}
            figures.lost = sum(1 for n in running if counts[(n, "1")] == 0)
            figures.undeclared_left = sum(1 for r in mine if r.name not in declared)
            models = Counter((m.name, m.version) for m in asyncio.run(_models(server.url)))
            figures.models = sum(models.values())
            figures.models_made_twice = sum(n - 1 for n in models.values() if n > 1)
            now = {r.id: (r.notes, r.status) for r in live if r.id in foreign}
            figures.unowned_touched = sum(1 for run_id, (notes, _) in foreign.items()
                                          if run_id not in now or now[run_id][0] != notes
                                          or (now[run_id][1] or "").startswith(("run_stop", "job_termin")))
        store.close()
    figures.seconds = round(time.perf_counter() - started, 1)
    return figures


async def _models(url: str) -> list[Model]:
    async with AsyncChariotClient(url) as client:
        return await client.get_models()


async def _quiet(url: str, faults: Faults) -> list[Run]:
    """The live runs, read around the faults (the soak's own look, not part of what is tested)."""
    rate, faults.failure_rate = faults.failure_rate, 0.0
    try:
        return await live_runs(url)
    finally:
        faults.failure_rate = rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang", type=float, default=1.0, help="seconds a timeout fault holds a request")
    parser.add_argument("--client-timeout", type=float, default=0.4)
    parser.add_argument("--kinds", default=",".join(get_args(FaultKind)),
                        help="fault kinds, comma-separated (default: all, the late commit included)")
    parser.add_argument("--backend", choices=["rest", "sdk"], default="rest",
                        help="reach the emulator over REST, or through the SDK (the tests' stand-in, tests/sdk)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    figures = soak(args.cycles, args.fault_rate, args.seed, args.hang, args.client_timeout, kinds,  # type: ignore[arg-type]
                   args.backend)
    print(f"soak ({args.backend} backend): {figures.cycles} cycles at {figures.fault_rate:.0%} faults "
          f"({figures.faults_injected} injected; "
          f"kinds: {', '.join(kinds)}), {figures.seconds} s")
    print(f"  cycles that ended in an error: {figures.cycles_failed}; duplicates seen between cycles: "
          f"{figures.transient_duplicates}")
    print(f"  converged: {figures.converged} after {figures.applies_to_converge} clean apply(s)")
    print(f"  duplicates: {figures.duplicates}  lost: {figures.lost}  undeclared left: {figures.undeclared_left}  "
          f"unowned touched: {figures.unowned_touched}")
    print(f"  models promoted: {figures.models}  made twice: {figures.models_made_twice}")
    if args.json:
        print(json.dumps(figures.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
