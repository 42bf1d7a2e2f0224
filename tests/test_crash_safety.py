"""Crash safety: an apply killed with SIGKILL mid-way, and the served emulator killed and restarted mid-apply.
In both, the rerun converges with exactly one run per address, and no acknowledged create is lost."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Run
from chariot_apply.emulator.process import EmulatorProcess
from tests.factories import cli_env, manifest, write_manifests

RUNS = 40
CREATED = re.compile(r": create: ok: created \[([0-9a-f-]+)\]")


def emulator(db: Path, latency: float = 0.05) -> EmulatorProcess:
    return EmulatorProcess(db, "--latency", str(latency))


def _apply(cwd: Path, url: str, backend: str = "rest") -> subprocess.Popen[str]:
    env = cli_env(url, "crash", backend)
    return subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", "apply", "-f", "runs.yaml",
                             "--auto-approve", "--concurrency", "2"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_creates(process: subprocess.Popen[str], count: int) -> list[str]:
    """Read the apply's progress until ``count`` creates were acknowledged; their run ids."""
    assert process.stdout is not None
    ids: list[str] = []
    deadline = time.monotonic() + 60
    while len(ids) < count:
        line = process.stdout.readline()
        if not line:  # the apply ended before acknowledging ``count`` creates: show why
            out, err = process.communicate(timeout=10)
            pytest.fail(f"the apply exited {process.returncode} after {len(ids)} creates:\n{out}\n{err}")
        assert time.monotonic() < deadline
        ids += CREATED.findall(line)
    return ids


def _runs(url: str) -> list[Run]:
    async def fetch() -> list[Run]:
        async with AsyncChariotClient(url) as client:
            return [r async for r in client.iter_runs()]
    return asyncio.run(fetch())


def _converged(cwd: Path, url: str, backend: str = "rest") -> list[Run]:
    rerun = _apply(cwd, url, backend)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out + err
    runs = _runs(url)
    assert Counter((r.name, r.version) for r in runs) == Counter({(f"c{i}", "1.0.0"): 1 for i in range(RUNS)})
    return runs


@pytest.mark.slow
@pytest.mark.parametrize(("kill_after", "backend"), [(3, "rest"), (20, "rest"), (37, "rest"), (20, "sdk")])
def test_an_apply_killed_mid_way_is_converged_by_the_next(tmp_path: Path, kill_after: int, backend: str) -> None:
    write_manifests(tmp_path / "runs.yaml", *[manifest(f"c{i}", taskType="Image Classification")
                                              for i in range(RUNS)])
    with emulator(tmp_path / "e.db") as server:
        url = server.url
        apply = _apply(tmp_path, url, backend)
        acknowledged = _wait_for_creates(apply, kill_after)
        apply.send_signal(signal.SIGKILL)
        apply.wait(timeout=10)
        runs = _converged(tmp_path, url, backend)
    assert set(acknowledged) <= {r.id for r in runs}


@pytest.mark.slow
def test_the_server_restarted_mid_apply_loses_no_acknowledged_create(tmp_path: Path) -> None:
    write_manifests(tmp_path / "runs.yaml", *[manifest(f"c{i}") for i in range(RUNS)])
    with emulator(tmp_path / "e.db") as server:
        apply = _apply(tmp_path, server.url)
        acknowledged = _wait_for_creates(apply, 10)
        server.stop(signal.SIGKILL)  # no clean shutdown: what was acknowledged must be on disk
        out, err = apply.communicate(timeout=120)  # the rest fails: the server is gone
        assert apply.returncode == 1 and "Traceback" not in err
        acknowledged += CREATED.findall(out)
    with emulator(tmp_path / "e.db") as restarted:  # the same state, served on a port of its own
        runs = _converged(tmp_path, restarted.url)
    assert set(acknowledged) <= {r.id for r in runs}
