"""Several processes on one emulator database (issue 18): two `apply`s and a `status --watch` at once on the
embedded emulator, and two served emulators on one file. Each ends in success or a clear error, never a crash
(exit 70), never a 500; one run per address afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.process import EmulatorProcess
from chariot_apply.emulator.store import EmulatorStore
from tests.factories import classifier_config, kept, manifest, new_run, write_manifests

RUNS = 20


def _command(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if kept(k)} | {"NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("trial", range(2))
def test_two_embedded_applies_and_a_watch_at_once(trial: int, tmp_path: Path) -> None:
    (tmp_path / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n")
    write_manifests(tmp_path / "runs" / "runs.yaml", *(manifest(f"r{i}") for i in range(RUNS)))
    processes = [_command(tmp_path, "apply", "--auto-approve"), _command(tmp_path, "apply", "--auto-approve"),
                 _command(tmp_path, "status", "--watch", "--interval", "0.1")]
    with ThreadPoolExecutor(len(processes)) as pool:  # every pipe drained at once: the applies take turns
        answers = list(pool.map(lambda p: p.communicate(timeout=180), processes))
    for process, (out, err) in zip(processes, answers, strict=True):
        assert process.returncode in (0, 1), (process.args, process.returncode, out, err)
        assert "Traceback" not in err and "unexpectedly" not in err, err
    store = EmulatorStore(tmp_path / ".chariot-apply" / "emulator.db", seed=False)
    names = [row["name"] for row in store._query("SELECT name FROM runs WHERE deleted=0")]
    store.close()
    assert sorted(names) == sorted(f"r{i}" for i in range(RUNS))


def test_two_served_emulators_on_one_file_answer_every_write(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with EmulatorProcess(db) as first, EmulatorProcess(db) as second:
        async def create_many(url: str, prefix: str) -> None:
            async with AsyncChariotClient(url) as client:
                await asyncio.gather(*(new_run(client, f"{prefix}{i}", config=classifier_config())
                                       for i in range(RUNS)))

        async def both() -> None:
            await asyncio.gather(create_many(first.url, "a"), create_many(second.url, "b"))

        asyncio.run(both())
        store = EmulatorStore(db, seed=False)
        count = store._query("SELECT COUNT(*) AS n FROM runs WHERE deleted=0")[0]["n"]
        projects = store._query("SELECT COUNT(*) AS n FROM projects WHERE name='vision'")[0]["n"]
        store.close()
    assert count == 2 * RUNS and projects == 1


@pytest.mark.anyio
async def test_a_run_deleted_while_status_reads_it_is_left_out(client: AsyncChariotClient) -> None:
    """Seen as a `status --watch` beside two applies: one apply deleted its duplicate between the watch's listing
    and its read of that run's events (it ended in "run ... does not exist", exit 1)."""
    from chariot_apply.usecases.watching import run_views

    kept, gone = await new_run(client, "kept"), await new_run(client, "gone")
    listed = await client.get_runs(ids=[kept, gone])
    await client.delete_run(gone)
    views = await run_views(client, listed, {})
    assert [v.run.name for v in views] == ["kept"]
