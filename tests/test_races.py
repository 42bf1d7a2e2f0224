"""Writers that race: two applies at once, on the same new runs, end with exactly one run per address.

Chariot has no lock and no unique key on (project, name, version): chariot-apply converges by itself. Each
trial starts two real `chariot-apply apply` processes together, as on two machines (writers' locks of their own),
against one served emulator (with a little
latency, so that both plan before either creates, as two CI jobs merging at once would).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Run
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.factories import cli_env, manifest, write_manifests

RUNS_PER_TRIAL = 40
TRIALS = 10


@pytest.fixture(scope="module")
def served() -> object:
    store = EmulatorStore(":memory:")
    with BackgroundServer(create_app(store, faults=Faults(latency_seconds=0.02))) as server:
        yield server
    store.close()


def _live(url: str, prefix: str) -> list[Run]:
    async def fetch() -> list[Run]:
        async with AsyncChariotClient(url) as client:
            return [r async for r in client.iter_runs(name_ilikes=[f"{prefix}%"])]
    return asyncio.run(fetch())


def _both(commands: list[list[str]], cwd: Path, url: str, backend: str = "rest",
          ) -> list[subprocess.CompletedProcess[str]]:
    """The commands at once, as on two machines: each with writers' locks of its own (on one machine the lock
    would take them in turn: ``tests/test_writers.py``)."""
    env = cli_env(url, "racers", backend)
    processes = [subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", *c], cwd=cwd,
                                  env=env | {"CHARIOT_APPLY_LOCK_DIR": str(cwd / f".locks-of-machine-{i}")},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, c in enumerate(commands)]
    with ThreadPoolExecutor(len(processes)) as pool:  # both pipes drained at once
        answers = list(pool.map(lambda p: p.communicate(timeout=120), processes))
    return [subprocess.CompletedProcess(c, p.returncode, out, err)
            for c, p, (out, err) in zip(commands, processes, answers, strict=True)]


def _one_per_address(runs: list[Run]) -> Counter[str]:
    return Counter(f"{r.project_id}/{r.name}@{r.version}" for r in runs)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["rest", "sdk"])
def test_two_applies_at_once_leave_one_run_per_address(served: BackgroundServer, tmp_path: Path, backend: str) -> None:
    raced = 0
    for trial in range(TRIALS):
        prefix = f"race{backend}{trial}-"
        write_manifests(tmp_path / "runs.yaml", *[manifest(f"{prefix}{i}", taskType="Image Classification")
                                                  for i in range(RUNS_PER_TRIAL)])
        first, second = _both([["apply", "-f", "runs.yaml", "--auto-approve"]] * 2, tmp_path, served.url, backend)
        for done in (first, second):
            assert done.returncode == 0, done.stdout + done.stderr
            assert "Traceback" not in done.stderr
        counts = _one_per_address(_live(served.url, prefix))
        assert len(counts) == RUNS_PER_TRIAL and set(counts.values()) == {1}, (trial, counts)
        text = first.stdout + second.stdout
        raced += "another apply created" in text
    assert raced, "no trial raced: the test proves nothing (raise the latency)"


@pytest.mark.slow
def test_one_saved_plan_applied_twice_at_once(served: BackgroundServer, tmp_path: Path) -> None:
    raced = 0
    for trial in range(TRIALS):
        prefix = f"saved{trial}-"
        write_manifests(tmp_path / "runs.yaml", *[manifest(f"{prefix}{i}") for i in range(RUNS_PER_TRIAL)])
        (planned,) = _both([["plan", "-f", "runs.yaml", "--out", "plan.json"]], tmp_path, served.url)
        assert planned.returncode == 0, planned.stderr
        first, second = _both([["apply", "plan.json"]] * 2, tmp_path, served.url)
        for done in (first, second):
            assert done.returncode == 0, done.stdout + done.stderr
        counts = _one_per_address(_live(served.url, prefix))
        assert len(counts) == RUNS_PER_TRIAL and set(counts.values()) == {1}, (trial, counts)
        raced += "another apply created" in first.stdout + second.stdout
    assert raced, "no trial raced: the test proves nothing (raise the latency)"


def test_a_saved_plan_applied_again_is_done_not_stale(served: BackgroundServer, tmp_path: Path) -> None:
    write_manifests(tmp_path / "runs.yaml", *[manifest(f"again-{i}") for i in range(3)])
    (planned,) = _both([["plan", "-f", "runs.yaml", "--out", "plan.json"]], tmp_path, served.url)
    assert planned.returncode == 0, planned.stderr
    (first,) = _both([["apply", "plan.json"]], tmp_path, served.url)
    (second,) = _both([["apply", "plan.json"]], tmp_path, served.url)
    assert first.returncode == 0 and second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("already exists: another apply created it") == 3
    assert set(_one_per_address(_live(served.url, "again-")).values()) == {1}
