"""Benchmark: plan and apply of N declared runs against M live runs and B blueprints, over loopback HTTP
with injected latency, next to the naive loop a user would write. Prints figures; asserts nothing.

    .venv/bin/python bench/plan_bench.py                      # 1,000 / 10,000 / 20, 25 ms
    .venv/bin/python bench/plan_bench.py --declared 200 --live 2000 --naive-runs 50

The round-trip floor is the number of request waves that must follow one another (each needs an answer
of the one before) times the latency: plan = 2 (everything it reads, then the config validations);
apply = 1 (every create at once) -- with a bound of C requests in flight, ceil(creates / C).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from chariot_apply.apply.executor import Executor, Reporter
from chariot_apply.chariot import rest
from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.errors import ValidationError
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import Resources
from chariot_apply.emulator.catalog import BlueprintSeed, Catalog, ProjectSeed, load_catalog
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.manifest.errors import Location
from chariot_apply.manifest.loader import check_document
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.yaml_source import Document
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.fetch import make_plan
from chariot_apply.plan.live import LiveState, ResolvedBlueprint
from chariot_apply.plan.model import Create, PlanOptions
from chariot_apply.plan.ownership import Marker, compose_notes

OWNER = "bench"
PROJECT = "bench"
CONFIG = {"dataset_id": "ds", "epochs": 3}
SMALL = Resources(cpu="1", memory="1Gi")


def catalog(blueprints: int) -> Catalog:
    schema = load_catalog().schemas["image-classifier"]
    names = max(1, blueprints // 4)
    seeds = [BlueprintSeed(name=f"bp-{i % names}", version=f"1.{i // names}.0", config_schema=schema,
                           task_types=["Image Classification"]) for i in range(blueprints)]
    return Catalog(projects=[ProjectSeed(name=PROJECT)], blueprints=seeds)


def manifests(n: int, blueprints: int) -> list[DeclaredRun]:
    names = max(1, blueprints // 4)
    runs = []
    for i in range(n):
        doc = {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
               "metadata": {"name": f"declared-{i:05d}", "version": "1", "project": PROJECT},
               "spec": {"blueprint": {"name": f"bp-{i % names}", "version": "1.%"},
                        "resources": {"cpu": "1", "memory": "1Gi"}, "config": CONFIG | {"epochs": 1 + i % 7}}}
        run, problems = check_document(Document("bench.yaml", i, doc, Location("bench.yaml", i + 1, 1)), PROJECT)
        assert run is not None, problems
        runs.append(run)
    return runs


def populate(store: EmulatorStore, declared: list[DeclaredRun], live: int) -> int:
    """Half of the declared runs exist already (owned, up to date); the rest of the live runs are others'."""
    project_id = store.projects(PROJECT)[0]["id"]
    existing = declared[: len(declared) // 2]

    resolved = {}
    for run in existing:
        key = (run.spec.blueprint.name, run.spec.blueprint.version)
        if key not in resolved:
            bp = store.lookup_blueprint(*key)
            resolved[key] = ResolvedBlueprint(bp["id"], bp["name"], bp["version"], tuple(bp["task_types"]))
    state = LiveState(project_ids={PROJECT: project_id}, project_names={project_id: PROJECT}, blueprints=resolved,
                      blueprints_by_id={}, runs=())
    plan = build_plan(existing, state, PlanOptions(owner=OWNER))
    for item in plan.items:
        assert isinstance(item, Create)
        store.create_run(rest.CreateRunBody(**item.run.model_dump(exclude={"spec_hash"})), "u")
    other = store.lookup_blueprint("bp-0", None)["id"]
    for i in range(live - len(existing)):
        body = rest.CreateRunBody(name=f"other-{i:05d}", version="1", resources=SMALL, config=CONFIG,
                                  task_type="Image Classification", blueprint_id=other, project_id=project_id,
                                  notes=compose_notes("", Marker("another-team", "0" * 16)))
        store.create_run(body, "u")
    return len(existing)


@dataclass
class Figures:
    requests: int
    seconds: float


async def smart(url: str, declared: list[DeclaredRun], concurrency: int) -> tuple[Figures, Figures, Figures, int, int]:
    """Plan twice (the first pays the process's warm-up: imports, TLS context, first connections), apply."""
    async with AsyncChariotClient(url, max_connections=concurrency * 2) as client:
        figures = []
        for _ in range(2):
            client.requests_sent = 0
            start = time.perf_counter()
            plan = await make_plan(client, declared, PlanOptions(owner=OWNER), concurrency=concurrency)
            figures.append(Figures(client.requests_sent, time.perf_counter() - start))
        creates = sum(1 for c in plan.changes if isinstance(c, Create))
        client.requests_sent = 0
        start = time.perf_counter()
        result = await Executor(client, Reporter(), concurrency=concurrency).apply(plan)
        applied = Figures(client.requests_sent, time.perf_counter() - start)
        assert result.ok, result.failed[:3]
        again = await make_plan(client, declared, PlanOptions(owner=OWNER), concurrency=concurrency)
        return figures[0], figures[1], applied, creates, len(again.changes)


async def naive(url: str, declared: list[DeclaredRun]) -> Figures:
    """What a user writes with the SDK: for each run, look up, list, validate, create."""
    async with AsyncChariotClient(url) as client:
        start = time.perf_counter()
        project_id = await client.get_project_id(PROJECT)
        for run in declared:
            blueprint_id = await client.lookup_blueprint_id(run.spec.blueprint.name, run.spec.blueprint.version)
            found = await client.get_runs(project_ids=[project_id], name_ilikes=[escape_ilike(run.name)],
                                          versions=[run.version])
            if found:
                continue
            try:
                await client.validate_run_config(blueprint_id=blueprint_id, config=run.spec.config)
            except ValidationError:
                continue
            res = run.spec.resources
            await client.create_run(name=run.name, version=run.version,
                                    resources=Resources(cpu=res.cpu, memory=res.memory),
                                    config=run.spec.config, task_type="Image Classification",
                                    blueprint_id=blueprint_id, project_id=project_id,
                                    notes=compose_notes(None, Marker(OWNER, "0" * 16)))
        return Figures(client.requests_sent, time.perf_counter() - start)


class EmulatorProcess:
    """The emulator in its own process (as a real Chariot is on its own machine): no GIL shared with us."""

    def __init__(self, args: argparse.Namespace, declared: list[DeclaredRun], workdir: Path) -> None:
        db = workdir / f"bench-{time.monotonic_ns()}.db"
        # Runs are stamped an hour ahead of the server's frozen clock, so that none of them is due to move:
        # otherwise the server's first request would first walk 10,000 runs through their lifecycle.
        later = ManualClock(datetime.now(UTC) + timedelta(hours=1))
        store = EmulatorStore(db, clock=later, catalog=catalog(args.blueprints))
        populate(store, declared, args.live)
        store.close()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "chariot_apply.cli.main", "emulator", "serve", "--port", str(port),
             "--db", str(db), "--latency", str(args.latency_ms / 1000), "--frozen-clock"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url + rest.PROJECTS, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}x" if floor else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--declared", type=int, default=1000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--blueprints", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--naive-runs", type=int, default=None,
                        help="Run the naive loop on this many declared runs (default: all) and scale.")
    args = parser.parse_args()
    declared = manifests(args.declared, args.blueprints)
    latency = args.latency_ms / 1000

    print(f"N={args.declared} declared, M={args.live} live, B={args.blueprints} blueprints, "
          f"latency {args.latency_ms:g} ms, concurrency {args.concurrency}")
    workdir = Path(tempfile.mkdtemp(prefix="chariot-bench-"))
    setup = time.perf_counter()
    server = EmulatorProcess(args, declared, workdir)
    print(f"setup: {time.perf_counter() - setup:.1f} s")
    try:
        cold, planned, applied, creates, left = asyncio.run(smart(server.url, declared, args.concurrency))
    finally:
        server.stop()
    plan_floor = 2 * latency
    apply_floor = latency
    apply_bound = math.ceil(creates / args.concurrency) * latency
    print(f"plan : {planned.requests:6d} requests {planned.seconds:8.3f} s   floor {plan_floor:.3f} s "
          f"({_ratio(planned.seconds, plan_floor)} floor); the first plan of the process: {cold.seconds:.3f} s")
    print(f"apply: {applied.requests:6d} requests {applied.seconds:8.3f} s   floor {apply_floor:.3f} s; "
          f"with {args.concurrency} in flight {apply_bound:.3f} s ({_ratio(applied.seconds, apply_bound)}) "
          f"for {creates} creates")
    print(f"after apply, a new plan has {left} changes")

    sample = declared[: args.naive_runs] if args.naive_runs else declared
    server = EmulatorProcess(args, declared, workdir)
    try:
        slow = asyncio.run(naive(server.url, sample))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    scale = len(declared) / len(sample)
    total = slow.seconds * scale
    note = f" (measured on {len(sample)} runs, scaled x{scale:g})" if scale != 1 else ""
    print(f"naive: {int(slow.requests * scale):6d} requests {total:8.3f} s{note}")
    ours = cold.seconds + applied.seconds
    print(f"speed-up over the naive loop: {total / ours:.1f}x (first plan + apply {ours:.3f} s)")


if __name__ == "__main__":
    main()
