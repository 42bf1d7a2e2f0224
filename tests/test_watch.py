"""Watching what was declared, on the emulator's clock-driven lifecycle (fifty times faster than real time):
status with progress and metrics, --watch, events --follow, metrics, apply --wait, and failed runs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.emulator.app import create_app
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, live_runs, manifest, write_manifests

ROOT = Path(__file__).resolve().parents[1]
FAST = LifecycleTiming().scaled(50)  # a 10-step run: about half a second


def _serve(timing: LifecycleTiming, clock: ManualClock | None = None) -> Iterator[BackgroundServer]:
    store = EmulatorStore(":memory:", timing=timing, clock=clock)
    with BackgroundServer(create_app(store)) as server:
        yield server
    store.close()


@pytest.fixture
def fast(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    for server in _serve(FAST):
        monkeypatch.setenv("CHARIOT_URL", server.url)
        yield server


def _finished(server: BackgroundServer, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = live_runs(server)
        if len(runs) == count and all(r.status == "job_completed" for r in runs):
            return
        time.sleep(0.1)
    raise AssertionError([r.status for r in live_runs(server)])


def test_status_shows_progress_last_event_and_latest_metrics(fast: BackgroundServer, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b", config=classifier_config(epochs=2)))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    _finished(fast, 2)
    document = json.loads(run_cli("status", "--format", "json").stdout)
    jsonschema.validate(document, json.loads((ROOT / "schemas" / "status.schema.json").read_text()))
    lines = {line["address"]: line for line in document["runs"]}
    b = lines["vision/b@1.0.0"]
    assert b["progress"][0]["value"] == b["progress"][0]["final_value"] == 20
    assert b["last_event"]["status"] == "job_completed" and b["age_seconds"] >= 0
    assert {"train/loss", "train/lr", "val/loss", "val/accuracy", "ds-1/val/accuracy"} == set(b["metrics"])
    assert 0 < b["metrics"]["train/loss"] < 2.6  # the latest of every tag, the validation pass's as well
    text = run_cli("status").stdout
    assert "[####################] 20/20" in text and "job_completed" in text and "val/accuracy=" in text
    assert "train/lr=" not in text and "+2 more" in text  # a row shows headline tags; JSON has them all


def test_watch_off_a_terminal_prints_changes_and_ends(fast: BackgroundServer, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    watched = run_cli("status", "--watch", "--interval", "0.05")
    assert watched.exit_code == 0, watched.output
    lines = [line for line in watched.stdout.splitlines() if line.startswith("vision/a@1.0.0")]
    assert len(lines) >= 2 and "job_completed" in lines[-1] and len(set(lines)) == len(lines)  # one per change
    assert watched.stdout.rstrip().endswith("Every run has finished.")


def test_events_follow_ends_with_the_run(fast: BackgroundServer, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    followed = run_cli("events", "vision/a@1.0.0", "--follow", "--interval", "0.05")
    assert followed.exit_code == 0, followed.output
    statuses = [line.split()[2] for line in followed.stdout.splitlines()]
    assert statuses[0] == "run_created" and statuses[-1] == "job_completed"
    assert [int(line.split()[0]) for line in followed.stdout.splitlines()] == list(range(1, len(statuses) + 1))
    assert run_cli("events", "vision/a@1.0.0").stdout == followed.stdout


def test_metrics_csv_equals_get_all_metrics_and_a_png_is_written(fast: BackgroundServer, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    _finished(fast, 1)
    rows = list(csv.DictReader(io.StringIO(run_cli("metrics", "vision/a@1.0.0", "--format", "csv").stdout)))

    async def every() -> list[tuple[int, str, float]]:
        async with AsyncChariotClient(fast.url) as client:
            (run,) = await client.get_runs()
            every_metric = await client.get_all_metrics(run.id or "")
            return sorted((m.global_step, m.tag, float(m.value or 0)) for m in every_metric)

    assert [(int(r["global_step"]), r["tag"], float(r["value"])) for r in rows] == asyncio.run(every())
    only_loss = json.loads(run_cli("metrics", "vision/a@1.0.0", "--tag", "train/loss", "--format", "json").stdout)
    assert {m["tag"] for m in only_loss} == {"train/loss"} and len(only_loss) == 10
    assert "train/loss (step 1 to 10)" in run_cli("metrics", "vision/a@1.0.0", "--plot").stdout
    png = workdir / "curves.png"
    assert run_cli("metrics", "vision/a@1.0.0", "--png", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_apply_wait_succeeds(fast: BackgroundServer, workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"))
    waited = run_cli("apply", "--auto-approve", "--wait", "--until", "finished", "--interval", "0.05")
    assert waited.exit_code == 0, waited.output
    assert "Every run has finished: 2 job_completed." in waited.stdout
    assert all(r.status == "job_completed" for r in live_runs(fast))


def test_apply_wait_until_running_says_what_the_runs_reached(fast: BackgroundServer, workdir: Path) -> None:
    """Issue 37: "Every run is running." when every run had completed. The end line counts the statuses the
    runs were last seen in (each printed as it changed), whatever they were."""
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"), manifest("c"))
    waited = run_cli("apply", "--auto-approve", "--wait", "--until", "running", "--interval", "0.05")
    assert waited.exit_code == 0, waited.output
    last: dict[str, str] = {}
    for line in waited.stdout.splitlines():
        if match := re.fullmatch(r"  (\S+@\S+) \[\S+\]: (\w+)(?: \S+)?", line):
            last[match[1]] = match[2]
    assert sorted(last) == ["a@1.0.0", "b@1.0.0", "c@1.0.0"]
    counts = Counter(last.values())
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    ended = waited.stdout.strip().splitlines()[-1]
    assert ended.endswith(f"{said}).") if set(counts) == {"job_running"} else ended.endswith(f": {said}."), ended
    assert ("is running" in ended) == (set(counts) == {"job_running"})


def test_apply_wait_fails_on_a_failed_run_and_the_plan_shows_it(workdir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for server in _serve(replace(FAST, fail_at_step=3)):
        monkeypatch.setenv("CHARIOT_URL", server.url)
        write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
        waited = run_cli("apply", "--auto-approve", "--wait", "--until", "finished", "--interval", "0.05")
        assert waited.exit_code == 1 and "job_failed" in waited.stderr
        plan = run_cli("plan")
        assert "vision/a@1.0.0: failed:" in plan.stdout and "spec.onFailure: recreate" in plan.stdout
        assert "1 failed (left alone" in plan.stdout and plan.exit_code == 0
        (failed,) = live_runs(server)
        events = run_cli("events", "vision/a@1.0.0").stdout
        assert "job_failed" in events and "injected failure" in events
        write_manifests(workdir / "runs" / "a.yaml", manifest("a", onFailure="recreate"))
        recreate = run_cli("plan")
        assert '+ run "vision/a@1.0.0"' in recreate.stdout and "Lifecycle actions" in recreate.stdout
        assert f"run {failed.id} failed (unknown: the training process exited at step 3 (injected failure)): " \
               "attempt 2 of 4" in recreate.stdout
        assert run_cli("apply", "--auto-approve").exit_code == 0
        # The failed run is kept: it is the first attempt, counted by the next retry, and its checkpoints stay.
        first, retry = live_runs(server)
        assert first.id == failed.id and first.status == "job_failed" and retry.id != failed.id


def test_apply_wait_fails_on_timeout(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for server in _serve(FAST, clock=ManualClock()):  # time stands still: nothing ever runs
        monkeypatch.setenv("CHARIOT_URL", server.url)
        write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
        waited = run_cli("apply", "--auto-approve", "--wait", "--timeout", "0.3s", "--interval", "0.05")
        assert waited.exit_code == 1 and "not every run was running after 0.3s" in waited.stderr
        bad = run_cli("apply", "--auto-approve", "--wait", "--timeout", "soon")
        assert bad.exit_code == 2 and "not a duration" in bad.output
