"""Benchmark: plan and apply of N declared runs against M live runs and B blueprints, over loopback HTTP
with injected latency, next to the naive loop a user would write. Prints figures; asserts nothing.

    .venv/bin/python bench/plan_bench.py                      # 1,000 / 10,000 / 20, 25 ms
    .venv/bin/python bench/plan_bench.py --declared 200 --live 2000 --naive-runs 50
    .venv/bin/python bench/plan_bench.py --naive-runs 20 --prune-live 50000 --history-live 100000 --json

The round-trip floor is the number of request waves that must follow one another (each needs an answer of the
one before) times the latency. Plan: the projects, then the pages of the involved project's active runs (1, 2,
then 4 at a time) beside the runs at the declared addresses (batches of names, at once); beside them the
blueprint look-ups, then the config validations (as many at once as the pages leave room for) -- whichever chain
is longer. Apply: removals, the look-up before creating, the creates, the look-up after them -- with a bound of C
requests in flight, ceil(n / C) waves each.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chariot_apply.apply.executor import Executor, Reporter
from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.errors import ValidationError
from chariot_apply.chariot.ilike import escape_ilike
from chariot_apply.chariot.models import Resources
from chariot_apply.emulator.catalog import BlueprintSeed, Catalog, ProjectSeed, load_catalog
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.process import EmulatorProcess
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.manifest.errors import Location
from chariot_apply.manifest.loader import check_document
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.manifest.policy import Policy, PolicyRules
from chariot_apply.manifest.yaml_source import Document
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.fetch import MAX_PAGES_AT_ONCE, NAME_BATCH, PLAN_CONCURRENCY, live_and_plan, make_plan
from chariot_apply.plan.footprint import assess, footprint
from chariot_apply.plan.live import LiveState, ResolvedBlueprint
from chariot_apply.plan.model import Create, Delete, Plan, PlanOptions, Replace, Stop
from chariot_apply.plan.ownership import Marker, compose_notes, is_owned
from chariot_apply.plan.policy import violations
from chariot_apply.runtime.asyncrun import run as run_as_the_cli

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


def manifest_documents(n: int, blueprints: int) -> list[dict[str, object]]:
    names = max(1, blueprints // 4)
    return [{"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
             "metadata": {"name": f"declared-{i:05d}", "version": "1", "project": PROJECT},
             "spec": {"blueprint": {"name": f"bp-{i % names}", "version": "1.%"},
                      "resources": {"cpu": "1", "memory": "1Gi"}, "config": CONFIG | {"epochs": 1 + i % 7}}}
            for i in range(n)]


def manifests(n: int, blueprints: int, documents: list[dict[str, object]] | None = None) -> list[DeclaredRun]:
    runs = []
    for i, doc in enumerate(documents or manifest_documents(n, blueprints)):
        run, problems = check_document(Document("bench.yaml", i, doc, Location("bench.yaml", i + 1, 1)), PROJECT)
        assert run is not None, problems
        runs.append(run)
    return runs


def with_differences(documents: list[dict[str, object]]) -> list[dict[str, object]]:
    """The declared runs as the plan meets them: of the half that exists, one in ten changed its config (a
    replace, deepdiff at work), one in ten is declared stopped (a stop), one in twenty absent (a delete)."""
    changed = copy.deepcopy(documents)
    for i, doc in enumerate(changed[: len(changed) // 2]):
        spec = doc["spec"]
        assert isinstance(spec, dict)
        if i % 10 == 1:
            spec["config"] = dict(spec["config"]) | {"learning_rate": 0.01}
        elif i % 10 == 2:
            spec["state"] = "stopped"
        elif i % 20 == 3:
            spec["state"] = "absent"
    return changed


def populate(store: EmulatorStore, declared: list[DeclaredRun], live: int, finished: float = 0.0) -> int:
    """Half of the declared runs exist already (owned, up to date); the rest of the live runs are others', of
    which the share ``finished`` has completed (a project's history)."""
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
    if finished:
        done = int((live - len(existing)) * finished)
        with store._db:  # the bench's own shortcut: a long history, without simulating it
            store._db.execute("UPDATE runs SET status='job_completed', next_at=NULL WHERE id IN (SELECT id FROM runs "
                              "WHERE name LIKE 'other-%' ORDER BY id LIMIT ?)", [done])
    return len(existing)


@dataclass
class Figures:
    requests: int
    seconds: float


def footprint_seconds(plan: Plan, live: LiveState, declared: list[DeclaredRun], options: PlanOptions) -> float:
    """What the footprint, the policy check and the risk take of a plan (the best of five), on its own items and
    the live state it fetched: the share of the plan they cost."""
    by_address = {f"{PROJECT}/{r.name}@{r.version}": r for r in declared}
    owned = [is_owned(r.notes, r.id, options.owner, ()) for r in (*live.runs, *live.elsewhere)]
    policy = Policy(rules=PolicyRules(max_concurrent_gpus={"A100": 64}, max_gpus_per_run=8, required_notes=False))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        spent = footprint(plan.items, live, by_address, owned, {"A100": 2.0})
        violations(plan.items, spent, by_address, policy, False)
        assess(plan.items, spent, live.now, policy.rules, {})
        best = min(best, time.perf_counter() - start)
    return best


async def smart(server: EmulatorProcess, declared: list[DeclaredRun], concurrency: int,
                options: PlanOptions) -> tuple[Figures, Figures, Figures, Plan, float, float, int, float]:
    """Plan twice (the first pays the process's warm-up: imports, TLS context, first connections), apply.
    Returns both plans' figures, the apply's, the plan, the client's and the server's CPU seconds in the apply,
    the changes a plan made after the apply still finds, and the footprint's seconds in the plan."""
    async with AsyncChariotClient(server.url) as client:  # as the CLI makes it
        figures = []
        for _ in range(2):
            client.requests_sent = 0
            start = time.perf_counter()
            live, plan = await live_and_plan(client, declared, options)  # at the CLI's concurrency
            figures.append(Figures(client.requests_sent, time.perf_counter() - start))
        spent = footprint_seconds(plan, live, declared, options)
        client.requests_sent = 0
        start, cpu, server_cpu = time.perf_counter(), time.process_time(), server.cpu_seconds()
        result = await Executor(client, Reporter(), concurrency=concurrency).apply(plan)
        applied = Figures(client.requests_sent, time.perf_counter() - start)
        cpu, server_cpu = time.process_time() - cpu, server.cpu_seconds() - server_cpu
        assert result.ok, result.failed[:3]
        again = await make_plan(client, declared, options)
        return figures[0], figures[1], applied, plan, cpu, server_cpu, len(again.changes), spent


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


def served(args: argparse.Namespace, declared: list[DeclaredRun], workdir: Path,
           finished: float = 0.0) -> EmulatorProcess:
    """The emulator in its own process (as a real Chariot is on its own machine: no GIL shared with us), with
    ``declared`` and ``args.live`` runs (the share ``finished`` of others' runs completed), started."""
    db = workdir / f"bench-{time.monotonic_ns()}.db"
    # Runs are stamped an hour ahead of the server's frozen clock, so that none of them is due to move:
    # otherwise the server's first request would first walk 10,000 runs through their lifecycle.
    later = ManualClock(datetime.now(UTC) + timedelta(hours=1))
    store = EmulatorStore(db, clock=later, catalog=catalog(args.blueprints))
    populate(store, declared, args.live, finished)
    store.close()
    return EmulatorProcess(db, "--latency", str(args.latency_ms / 1000), "--frozen-clock").start()


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}x" if floor else "n/a"


def plan_shape(plan: Plan, live: int, concurrency: int, declared: int, prune: bool) -> tuple[int, int]:
    """(the fewest requests this plan can take, the waves that must follow one another): the runs at the
    declared addresses (batches of names, all at once) beside the pages of the project (with --prune every run;
    without, the active ones: here, all of the live runs)."""
    keys = {(c.run.blueprint_id, json.dumps(c.run.config, sort_keys=True)) for c in plan.changes
            if isinstance(c, Create | Replace)}
    blueprints = {(i.blueprint.name, i.blueprint.pattern) for i in plan.items if isinstance(i, Create | Replace)}
    pages = max(1, math.ceil((live + 1) / 1000))  # the listing's pages, the last one short
    batches = math.ceil(declared / NAME_BATCH)
    minimum = 1 + len(blueprints) + 1 + pages + batches + len(keys)  # projects, lookups, versions, listing, validations
    validating = max(1, concurrency - MAX_PAGES_AT_ONCE)  # what the pages leave room for
    waves = max(1 + listing_waves(pages), 1 + math.ceil(len(keys) / validating))
    return minimum, waves


def listing_waves(pages: int) -> int:
    """The round trips a listing of ``pages`` pages needs at best: the first page alone, then a window that
    widens to 2, then to MAX_PAGES_AT_ONCE pages in flight."""
    asked, waves, width = 0, 0, 1
    while asked < pages:
        asked, waves, width = asked + width, waves + 1, min(2 * width, MAX_PAGES_AT_ONCE)
    return waves


def apply_waves(plan: Plan, concurrency: int) -> int:
    removals = sum(1 for c in plan.changes if isinstance(c, Stop | Delete | Replace))
    creates = sum(1 for c in plan.changes if isinstance(c, Create | Replace))
    # removals, the look-up before creating, the creates, the duplicate check after them
    return math.ceil(removals / concurrency) + 1 + math.ceil(creates / concurrency) + 1


def _median_process(command: list[str], cwd: Path, env: dict[str, str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - start)
        assert done.returncode in (0, 2), done.stderr[-2000:]
    return sorted(times)[len(times) // 2]


def cli_figures(documents: list[dict[str, object]], workdir: Path) -> tuple[float, float]:
    """The whole CLI as a process: `--help`, and `plan` of the N manifests on the embedded emulator."""
    import yaml

    project = workdir / "cli"
    (project / "runs").mkdir(parents=True)
    (project / "chariot-apply.yaml").write_text(f"owner: {OWNER}\nproject: {PROJECT}\nmanifests: [runs/]\n")
    (project / "runs" / "runs.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARIOT")}
    cli = str(Path(sys.executable).parent / "chariot-apply")
    from chariot_apply.emulator.store import EmulatorStore as Store

    seeded = Store(project / ".chariot-apply" / "emulator.db", catalog=catalog(20))  # the bench's blueprints
    seeded.close()
    help_s = _median_process([cli, "--help"], project, env)
    plan_s = _median_process([cli, "plan"], project, env)
    return help_s, plan_s


PROFILED_CLI = """
import resource, sys, time
from chariot_apply.cli.main import cli
start = time.perf_counter()
try:
    cli(sys.argv[1:], prog_name="chariot-apply", standalone_mode=False)
except SystemExit:
    pass
print(f"{time.perf_counter() - start} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}", file=sys.stderr)
"""


def prune_figures(args: argparse.Namespace, existing: list[DeclaredRun], documents: list[dict[str, object]],
                  workdir: Path) -> tuple[float, float]:
    """`plan --prune` as a whole process against ``--prune-live`` runs: (seconds, peak RSS in MB)."""
    import yaml

    wide = argparse.Namespace(**(vars(args) | {"live": args.prune_live}))
    server = served(wide, existing, workdir)
    project = workdir / "prune"
    (project / "runs").mkdir(parents=True)
    (project / "chariot-apply.yaml").write_text(f"owner: {OWNER}\nproject: {PROJECT}\nmanifests: [runs/]\n")
    (project / "runs" / "runs.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARIOT")} | {"CHARIOT_URL": server.url}
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROFILED_CLI, "plan", "--prune"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - start
    finally:
        server.stop()
    _, rss = done.stderr.strip().splitlines()[-1].split()
    print(f"plan --prune at M={args.prune_live}: {wall:.3f} s (whole process), peak RSS {float(rss):.0f} MB")
    return round(wall, 3), round(float(rss), 1)


async def warm_plan(url: str, declared: list[DeclaredRun], options: PlanOptions) -> tuple[float, int]:
    """The best of three plans in one process (seconds, requests): the client warm, as in a long CI job."""
    async with AsyncChariotClient(url) as client:
        best = math.inf
        for _ in range(3):
            client.requests_sent = 0
            start = time.perf_counter()
            await make_plan(client, declared, options)
            best = min(best, time.perf_counter() - start)
        return best, client.requests_sent


def history_figures(args: argparse.Namespace, existing: list[DeclaredRun], declared: list[DeclaredRun],
                    workdir: Path) -> dict[str, float]:
    """The same plan (no --prune) against M=1,000 live runs and against ``--history-live`` runs of which 99 % have
    finished: the second should cost little more, since finished runs at undeclared addresses need no action."""
    figures: dict[str, float] = {}
    options = PlanOptions(owner=OWNER, allow_replace=True)
    for live in (1_000, args.history_live):
        server = served(argparse.Namespace(**(vars(args) | {"live": live})), existing, workdir, finished=0.99)
        try:
            seconds, requests = run_as_the_cli(warm_plan(server.url, declared, options), bulk_heap=True)
        finally:
            server.stop()
        figures[f"history_plan_s_{live}"] = round(seconds, 4)
        print(f"history: plan at M={live} (99 % finished): {seconds:.3f} s, {requests} requests")
    ratio = figures[f"history_plan_s_{args.history_live}"] / figures["history_plan_s_1000"]
    print(f"history: M={args.history_live} / M=1,000 = {ratio:.2f}x (goal: within 1.5x)")
    return figures | {"history_ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--declared", type=int, default=1000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--blueprints", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    parser.add_argument("--concurrency", type=int, default=16, help="apply's requests in flight (default: the "
                        "CLI's, 16); plans use the CLI's PLAN_CONCURRENCY")
    parser.add_argument("--naive-runs", type=int, default=None,
                        help="Run the naive loop on this many declared runs (default: all) and scale.")
    parser.add_argument("--json", action="store_true", help="End with one JSON object of the figures.")
    parser.add_argument("--prune-live", type=int, default=0,
                        help="Also time `plan --prune` (the whole CLI process) against this many live runs.")
    parser.add_argument("--history-live", type=int, default=0,
                        help="Also time the plan against 1,000 and against this many live runs, 99 %% finished.")
    parser.add_argument("--compare", metavar="REF", default=None,
                        help="Run this bench on REF (a commit, checked out beside this one) and on this code, one "
                             "after the other, and print every figure side by side with its ratio.")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, [a for a in sys.argv[1:] if a not in ("--compare", args.compare, "--json")])
        return
    documents = manifest_documents(args.declared, args.blueprints)
    existing = manifests(args.declared, args.blueprints, documents)
    declared = manifests(args.declared, args.blueprints, with_differences(documents))
    options = PlanOptions(owner=OWNER, allow_replace=True)
    latency = args.latency_ms / 1000

    print(f"N={args.declared} declared, M={args.live} live, B={args.blueprints} blueprints, "
          f"latency {args.latency_ms:g} ms, concurrency {PLAN_CONCURRENCY} (plan) / {args.concurrency} (apply); "
          f"machine: {os.cpu_count()} cores")
    workdir = Path(tempfile.mkdtemp(prefix="chariot-bench-"))
    setup = time.perf_counter()
    server = served(args, existing, workdir)
    print(f"setup: {time.perf_counter() - setup:.1f} s")
    try:
        # The heap policy of the CLI's plan and apply (asyncrun.run: no collections inside the plan).
        cold, planned, applied, plan, cpu, server_cpu, left, spent = run_as_the_cli(
            smart(server, declared, args.concurrency, options), bulk_heap=True)
    finally:
        server.stop()
    minimum, waves = plan_shape(plan, args.live, PLAN_CONCURRENCY, args.declared, options.prune)
    plan_floor = waves * latency
    apply_floor = apply_waves(plan, args.concurrency) * latency
    creates = sum(1 for c in plan.changes if isinstance(c, Create | Replace))
    print(f"plan : first of the process {cold.seconds:.3f} s ({_ratio(cold.seconds, plan_floor)} the floor), "
          f"warm {planned.seconds:.3f} s; floor {plan_floor:.3f} s ({waves} waves); "
          f"requests {planned.requests} (fewest possible: {minimum}); {plan.summary()}")
    print(f"apply: {applied.requests} requests {applied.seconds:.3f} s; floor {apply_floor:.3f} s "
          f"({_ratio(applied.seconds, apply_floor)}); client CPU {1000 * cpu / max(creates, 1):.2f} ms per create, "
          f"{1000 * cpu / max(applied.requests, 1):.3f} ms per request; "
          f"server CPU {server_cpu:.2f} s (the emulator serves one request at a time)")
    print(f"after apply, a new plan has {left} changes")
    print(f"footprint, policy and risk: {1000 * spent:.1f} ms of the warm plan's {planned.seconds:.3f} s "
          f"({100 * spent / planned.seconds:.1f} %; goal: under 5 %), no request of their own")

    sample = existing[: args.naive_runs] if args.naive_runs else existing
    server = served(args, existing, workdir)
    try:
        slow = asyncio.run(naive(server.url, sample))
    finally:
        server.stop()
    scale = len(existing) / len(sample)
    total = slow.seconds * scale
    note = f" (measured on {len(sample)} runs, scaled x{scale:g})" if scale != 1 else ""
    print(f"naive: {int(slow.requests * scale):6d} requests {total:8.3f} s{note}")
    ours = cold.seconds + applied.seconds
    print(f"speed-up over the naive loop: {total / ours:.1f}x (first plan + apply {ours:.3f} s)")
    help_s, cli_plan_s = cli_figures(documents, workdir)
    prune_s, prune_rss = prune_figures(args, existing, documents, workdir) if args.prune_live else (None, None)
    history = history_figures(args, existing, declared, workdir) if args.history_live else {}
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"CLI: --help {help_s:.3f} s; plan of {args.declared} manifests on the embedded emulator {cli_plan_s:.3f} s; "
          f"peak RSS of a child process {rss:.0f} MB")
    shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps({
            "plan_cold_s": round(cold.seconds, 4), "plan_warm_s": round(planned.seconds, 4),
            "plan_floor_s": round(plan_floor, 4), "plan_requests": planned.requests, "plan_min_requests": minimum,
            "apply_s": round(applied.seconds, 4), "apply_floor_s": round(apply_floor, 4),
            "apply_cpu_ms_per_create": round(1000 * cpu / max(creates, 1), 3),
            "apply_cpu_ms_per_request": round(1000 * cpu / max(applied.requests, 1), 3),
            "apply_server_cpu_s": round(server_cpu, 3), "naive_s": round(total, 3),
            "footprint_s": round(spent, 5), "footprint_share": round(spent / planned.seconds, 4),
            "cli_plan_s": round(cli_plan_s, 4), "cli_help_s": round(help_s, 4), "prune_plan_s": prune_s,
            "peak_rss_mb": round(max(rss, prune_rss or 0), 1)} | history))


def figures_of(checkout: Path, arguments: list[str]) -> dict[str, object]:
    """The bench's JSON figures, run in ``checkout`` (its code first on the path) as a process of its own."""
    env = os.environ | {"PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, str(checkout / "bench" / "plan_bench.py"), *arguments, "--json"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"the bench failed in {checkout}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(done.stdout.rsplit("\n{", 1)[0], file=sys.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(ref: str, arguments: list[str]) -> None:
    """Every figure of REF's code and of this code, measured in the same sitting (a regression shows as a
    ratio, not against a figure from another day)."""
    here = Path(__file__).resolve().parents[1]
    beside = Path(tempfile.mkdtemp(prefix="chariot-bench-ref-")) / "ref"
    subprocess.run(["git", "worktree", "add", "--detach", str(beside), ref], cwd=here, check=True,
                   capture_output=True)
    try:
        theirs = figures_of(beside, arguments)
        ours = figures_of(here, arguments)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(beside)], cwd=here, capture_output=True)
    print(f"{'figure':28} {'this code':>12} {ref[:12]:>12} {'ratio':>7}")
    for name in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(name), theirs.get(name)
        ratio = f"{mine / other:.2f}" if isinstance(mine, int | float) and isinstance(other, int | float) and other \
            else "-"
        print(f"{name:28} {mine!s:>12} {other!s:>12} {ratio:>7}")


if __name__ == "__main__":
    main()
