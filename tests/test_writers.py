"""One writer at a time per Chariot and owner, whatever the checkout (issue 34): the writers' lock lives outside every
checkout, keyed by server and owner; a second writer waits (and says for whom) or, for reconcile, does nothing;
lifecycle actions are sent once whatever the number of writers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from chariot_apply.apply.executor import Reporter
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.faults import Faults
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.usecases import applying, planning, reconciling
from chariot_apply.workspace import project
from chariot_apply.workspace.locks import WriterLock
from tests.cli_helpers import run_cli
from tests.factories import checkpoints_and_models, classifier_config, live_runs, manifest, write_manifests

OWNER = "team-writers"
SHORT = classifier_config(epochs=2)
LONG = classifier_config(epochs=200, ckpt_epoch_period=40)


def checkout(root: Path, name: str, *documents: dict[str, object]) -> Path:
    """A checkout of the same repository: its project file and manifests."""
    place = root / name
    (place / "runs").mkdir(parents=True, exist_ok=True)
    (place / "chariot-apply.yaml").write_text(yaml.safe_dump({"owner": OWNER, "project": "vision",
                                                             "manifests": ["runs/"]}))
    write_manifests(place / "runs" / "runs.yaml", *documents)
    return place


def workspace(place: Path, server: BackgroundServer) -> project.Workspace:
    return project.open_workspace(config=place / "chariot-apply.yaml", chariot_url=server.url,
                                  env={"CHARIOT_APPLY_LOCK_DIR": os.environ["CHARIOT_APPLY_LOCK_DIR"]})


def promoting(version: str) -> dict[str, object]:
    return manifest("a", config=SHORT, promote=[{"model": {"name": "winner", "version": version},
                                                 "checkpoint": {"select": "last"}}])


def test_the_lock_is_outside_the_checkout_and_keyed_by_server_and_owner(tmp_path: Path,
                                                                       server: BackgroundServer) -> None:
    one, two = checkout(tmp_path, "one", manifest("a")), checkout(tmp_path, "two", manifest("a"))
    first, second = workspace(one, server), workspace(two, server)
    assert first.writer.path == second.writer.path and not first.writer.path.is_relative_to(tmp_path)
    assert WriterLock(first.connection.identity, "another-owner").path != first.writer.path
    assert WriterLock("https://elsewhere.example", OWNER).path != first.writer.path
    assert first.writer.try_acquire() and not second.writer.try_acquire()  # two fds, one holder
    assert first.writer.try_acquire()  # its own holder takes it again (a reconcile applies under its lock)
    first.writer.release()
    first.writer.release()
    assert second.writer.try_acquire()
    second.writer.release()


def test_a_second_writer_waits_saying_for_whom_and_reconcile_does_nothing_meanwhile(
        workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    held = project.open_workspace(config=workdir / "chariot-apply.yaml").writer
    with held.hold():
        waited = run_cli("--deadline", "1s", "apply", "--auto-approve")
        assert waited.exit_code == 1, waited.output
        assert f"waiting for another writer to {held.what}" in waited.stderr and f"pid {os.getpid()}" in \
            waited.stderr and "held the writers' lock past the deadline" in waited.stderr
        busy = run_cli("reconcile")
        assert busy.exit_code == 0 and "nothing was done" in busy.stdout, busy.output
        assert live_runs(server) == []
    assert run_cli("apply", "--auto-approve").exit_code == 0 and len(live_runs(server)) == 1


@pytest.mark.slow
def test_two_reconciles_in_two_checkouts_make_each_model_once(tmp_path: Path, server: BackgroundServer,
                                                              clock: ManualClock) -> None:
    """The reproduction: two reconciles in two checkouts on one machine made every due model twice with no fault
    at all. 50 rounds, each a new model version due, two reconciles at once: one model each round."""
    one = checkout(tmp_path, "one", promoting("1.0.0"))
    two = checkout(tmp_path, "two", promoting("1.0.0"))
    creator = workspace(one, server)

    async def create() -> None:
        await applying.apply(creator, await planning.plan(creator, creator.plan_options()), Reporter(),
                             check_stale=False)
        await creator.close()

    asyncio.run(create())
    clock.advance(3600)  # trained and finished: its promotion is due
    for round_ in range(50):
        version = f"1.0.{round_ + 1}"
        for place in (one, two):
            write_manifests(place / "runs" / "runs.yaml", promoting(version))
        results: list[reconciling.Reconciled] = []

        def reconcile(place: Path, results: list[reconciling.Reconciled] = results) -> None:
            ws = workspace(place, server)

            async def go() -> reconciling.Reconciled:
                try:
                    return await reconciling.reconcile(ws, ws.plan_options(), Reporter())
                finally:
                    await ws.close()

            results.append(asyncio.run(go()))

        threads = [threading.Thread(target=reconcile, args=(place,)) for place in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        models = [m for m in checkpoints_and_models(server)[1] if m.name == "winner" and m.version == version]
        assert len(models) == 1, (round_, [r.result.outcomes for r in results])
    assert len(live_runs(server)) == 1


@pytest.mark.slow
def test_an_apply_and_a_reconcile_in_one_checkout_send_a_limits_stop_once(
        workdir: Path, server: BackgroundServer, clock: ManualClock, faults: Faults) -> None:
    """The reproduction: an apply and a reconcile side by side both sent the stop of a run past its limit. As two
    processes, five times: one stop request each time."""
    env = {**os.environ, "CHARIOT_URL": server.url, "NO_COLOR": "1"}
    command = [str(Path(sys.executable).parent / "chariot-apply")]
    for round_ in range(5):
        name = f"long-{round_}"
        write_manifests(workdir / "runs" / "a.yaml", manifest(name, config=LONG, limits={"maxDuration": "2m"}))
        assert run_cli("apply", "--auto-approve").exit_code == 0
        clock.advance(130)
        run_id = next(r.id for r in live_runs(server) if r.name == name)
        faults.seen.clear()
        both = [subprocess.Popen([*command, *args], cwd=workdir, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
                for args in (["apply", "--auto-approve"], ["reconcile"])]
        outputs = [p.communicate(timeout=120)[0] for p in both]
        assert [p.returncode for p in both] == [0, 0], outputs
        stops = [path for method, path in faults.seen if method == "POST" and path.endswith(f"{run_id}/stop")]
        assert len(stops) == 1, (round_, outputs)
