"""``chariot-apply reconcile`` on the emulator's clock-driven lifecycle (over a loopback server): it carries out the
lifecycle actions the manifests' rules call for (a stop past maxDuration, a retry that resumes, a create once what
it depends on finished) and nothing declared; twice in a row, the second does nothing."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chariot_apply.chariot.models import Run
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, manifest, write_manifests
from tests.factories import checkpoints_and_models as state

#: 2,000 steps (10 a epoch), a checkpoint every 400.
LONG = classifier_config(epochs=200, ckpt_epoch_period=40)


def reconcile(*args: str) -> dict[str, Any]:
    done = run_cli("reconcile", "--format", "json", *args)
    assert done.exit_code in (0, 2), done.output + run_cli("plan").output
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def by_name(server: BackgroundServer) -> dict[str, list[Run]]:
    found: dict[str, list[Run]] = {}
    for run in live_runs(server):
        found.setdefault(run.name or "", []).append(run)
    return found


def test_reconcile_stops_a_run_past_its_max_duration_and_leaves_declared_drift(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=LONG, limits={"maxDuration": "2m"}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(path, manifest("a", config=LONG, limits={"maxDuration": "2m"}), manifest("b"))
    clock.advance(100)
    early = reconcile("--detailed-exitcode")
    assert early["done"] == [] and early["drift"][0].startswith("vision/b@1.0.0 create ")
    assert [r.name for r in live_runs(server)] == ["a"], "reconcile applied a declared change"
    clock.advance(30)
    text = run_cli("plan")
    assert "Lifecycle actions" in text.stdout and "rule: spec.limits.maxDuration: 2m" in text.stdout
    stopped = reconcile()
    assert [(o["address"], o["kind"], o["ok"]) for o in stopped["done"]] == [("vision/a@1.0.0", "stop", True)]
    assert by_name(server)["a"][0].status == "run_stop_requested"
    assert reconcile()["done"] == [], "a second reconcile did something again"


def test_reconcile_stops_a_run_past_its_max_duration_whose_edited_manifest_is_blocked(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=LONG, limits={"maxDuration": "2m"}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    write_manifests(path, manifest("a", config=LONG | {"epochs": 300}, limits={"maxDuration": "2m"}))
    clock.advance(130)
    text = run_cli("plan")
    assert text.exit_code == 1 and "rule: spec.limits.maxDuration: 2m" in text.stdout, text.output
    done = run_cli("reconcile", "--format", "json")  # exit 1: the blocked replace still needs attention
    stopped = json.loads(done.stdout)
    assert done.exit_code == 1 and stopped["needs_attention"] == 1, done.output
    assert [(o["kind"], o["ok"]) for o in stopped["done"]] == [("stop", True)]
    assert [r.status for r in live_runs(server)] == ["run_stop_requested"]


def test_a_failed_run_is_recreated_from_its_last_checkpoint_at_most_max_retries_times(
        workdir: Path, server: BackgroundServer, clock: ManualClock, store: EmulatorStore) -> None:
    store.timing = replace(LifecycleTiming(), fail_at_step=1210)
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, onFailure={
        "action": "recreate", "maxRetries": 3, "resume": "lastCheckpoint"}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 1210)
    (failed,) = live_runs(server)
    assert failed.status == "job_failed"
    plan = run_cli("plan").stdout
    assert "attempt 2 of 4, resuming from step 1,200" in plan, plan
    shutil.rmtree(workdir / ".chariot-apply", ignore_errors=True)  # a lost local directory: attempts are Chariot's
    retried = reconcile()
    assert [(o["kind"], o["ok"]) for o in retried["done"]] == [("create", True)]
    first, second = live_runs(server)
    step_1200 = next(c for c in state(server)[0] if c.run_id == failed.id and c.global_step == 1200)
    assert first.id == failed.id and second.config and second.config["start_model"] == {"checkpoint_id": step_1200.id}
    clock.advance(START + 1)
    resumed = next(r for r in live_runs(server) if r.id == second.id)
    assert resumed.progress and resumed.progress[0].value == 1201, "the retry did not resume from step 1,200"
    assert reconcile()["done"] == []


def test_retries_that_do_not_resume_stop_after_max_retries(workdir: Path, server: BackgroundServer,
                                                           clock: ManualClock, store: EmulatorStore) -> None:
    store.timing = replace(LifecycleTiming(), fail_at_step=5)
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, onFailure={
        "action": "recreate", "maxRetries": 2}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    for _ in range(5):
        clock.advance(START + 5)
        reconcile()
    runs = live_runs(server)
    assert len(runs) == 3 and all(r.status == "job_failed" for r in runs)  # 1 + maxRetries attempts, no more
    plan = run_cli("plan")
    assert "the last of 3 attempt(s)" in plan.stdout and plan.exit_code == 0



@pytest.mark.parametrize("action", ["stop", "recreate"])
def test_a_run_whose_progress_stopped_moving_is_stopped_or_recreated_by_reconcile(
        action: str, workdir: Path, server: BackgroundServer, clock: ManualClock, store: EmulatorStore) -> None:
    """The emulator's hung process (running, its progress frozen at step 5) against ``spec.limits.stall``: nothing
    before noProgressFor has passed, then one stop (or one recreate that trains), and nothing the time after."""
    store.timing = replace(LifecycleTiming(), stall_at_step=5)
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, limits={
        "stall": {"noProgressFor": "2m", "action": action}}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 100)
    (hung,) = live_runs(server)
    assert hung.status == "job_running" and hung.progress and hung.progress[0].value == 5
    assert reconcile()["done"] == [], "a stall was called before noProgressFor had passed"
    store.timing = LifecycleTiming()  # the next run's process does not hang
    clock.advance(30)
    assert f"rule: spec.limits.stall: noProgressFor 2m, action {action}" in run_cli("plan").stdout
    done = reconcile()
    assert [(o["kind"], o["ok"]) for o in done["done"]] == [("stop", True)]  # kept, never deleted (issue 38)
    runs = {r.id: r for r in live_runs(server)}
    assert list(runs) == [hung.id] and runs[hung.id].status == "run_stop_requested"
    if action == "recreate":
        clock.advance(30)  # it has stopped: the next reconcile makes the next attempt
        assert [(o["kind"], o["ok"]) for o in reconcile()["done"]] == [("create", True)]
        (fresh,) = [r for r in live_runs(server) if r.id != hung.id]
        clock.advance(START + 20)
        runs = {r.id: r for r in live_runs(server)}
        assert runs[hung.id].status == "job_terminated"  # the stalled attempt is kept, with its checkpoints
        moving = runs[fresh.id]
        assert moving.status == "job_running" and moving.progress and (moving.progress[0].value or 0) > 5
    assert reconcile()["done"] == [], "a second reconcile did something again"


def test_a_stall_recreate_stops_at_its_limit_and_deletes_nothing(workdir: Path, server: BackgroundServer,
                                                                 clock: ManualClock, store: EmulatorStore) -> None:
    """Issue 38's reproduction: every attempt hangs; `maxRetries: 2` makes exactly 3 runs, each stopped and kept."""
    store.timing = replace(LifecycleTiming(), stall_at_step=5)
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, limits={
        "stall": {"noProgressFor": "2m", "action": "recreate", "maxRetries": 2}}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    kinds = []
    for _ in range(12):
        clock.advance(START + 150)
        kinds += [o["kind"] for o in reconcile()["done"]]
    runs = live_runs(server)
    assert kinds.count("delete") == 0 and kinds.count("replace") == 0
    assert len(runs) == 3 and all(r.status == "job_terminated" for r in runs), [r.status for r in runs]
    assert kinds.count("stop") == 3 and kinds.count("create") == 2
    assert "the last of 3 attempt(s) (spec.limits.stall maxRetries 2)" in run_cli("plan").stdout


PRETRAIN = "vision/pretrain@1.0.0"


def _chain() -> list[dict[str, Any]]:
    return [manifest("pretrain", config=classifier_config(epochs=3)),
            manifest("finetune", config=classifier_config(epochs=2, start_model={
                "checkpoint_id": "${run:" + PRETRAIN + ".checkpoint.best(metric=val/loss)}"}))]


def test_a_chain_declared_in_one_change_runs_in_order_through_repeated_reconcile(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "chain.yaml", *_chain())
    first = run_cli("apply", "--auto-approve")
    assert first.exit_code == 0, first.output
    assert f"vision/finetune@1.0.0: will be created later: waiting for {PRETRAIN}" in first.stdout
    assert [r.name for r in live_runs(server)] == ["pretrain"]
    clock.advance(START + 10)
    assert reconcile()["waiting"][0]["detail"].startswith(f"waiting for {PRETRAIN} (job_running, step 10 of 30")
    clock.advance(30)
    made = reconcile()
    assert [(o["address"], o["kind"], o["ok"]) for o in made["done"]] == [("vision/finetune@1.0.0", "create", True)]
    pretrain, finetune = by_name(server)["pretrain"][0], by_name(server)["finetune"][0]
    best = finetune.config["start_model"]["checkpoint_id"] if finetune.config else None
    assert best in {c.id for c in state(server)[0] if c.run_id == pretrain.id and c.status == "complete"}
    assert reconcile()["done"] == [] and run_cli("plan", "--detailed-exitcode").exit_code == 0


def test_apply_wait_carries_a_dependent_create_through_as_its_upstream_finishes(workdir: Path) -> None:
    """On a running emulator (time scale up): one `apply --wait` creates the upstream, waits for it, then
    creates what depends on it and waits for that too."""
    write_manifests(workdir / "runs" / "chain.yaml", *_chain())
    for server in _fast_server():
        env_url = server.url
        done = run_cli("--chariot-url", env_url, "apply", "--auto-approve", "--wait", "--until", "finished",
                       "--interval", "0.05", "--timeout", "60s")
        assert done.exit_code == 0, done.output
        names = {r.name: r for r in live_runs(server)}
        assert set(names) == {"pretrain", "finetune"} and all(r.status == "job_completed" for r in names.values())
        assert (names["pretrain"].created_at or 0) < (names["finetune"].created_at or 0)  # type: ignore[operator]


def _fast_server() -> Any:
    store = EmulatorStore(":memory:", timing=LifecycleTiming().scaled(50))
    from chariot_apply.emulator.app import create_app

    with BackgroundServer(create_app(store)) as server:
        yield server
    store.close()


def test_reconcile_in_json_says_a_failure_as_a_document_too(workdir: Path, monkeypatch: Any) -> None:
    """A cron job reading the JSON gets a document whatever happened; the error is on standard error as ever."""
    monkeypatch.setenv("CHARIOT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("CHARIOT_TIMEOUT", "0.5")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    done = run_cli("reconcile", "--format", "json")
    assert done.exit_code == 1 and "Error:" in done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False and document["error"] and document["hint"]



def test_a_protected_run_past_its_limit_trains_on_through_ten_reconciles_and_reconcile_stays_green(
        workdir: Path, server: BackgroundServer, clock: ManualClock) -> None:
    """Issue 34: reconcile said "stop refused", exited 1, and stopped the run all the same. Now the stop is never
    sent: each reconcile exits 0 with the block as a warning, its reason and its fix; apply of an unrelated change
    is not refused for it."""
    path = workdir / "runs" / "a.yaml"
    write_manifests(path, manifest("a", config=LONG, limits={"maxDuration": "2m"}, protect=True))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(130)
    for _ in range(10):
        done = run_cli("reconcile", "--format", "json")
        document = json.loads(done.stdout)
        assert done.exit_code == 0 and document["ok"] and document["done"] == [], done.output
        (blocked,) = document["blocked"]
        assert "protected" in blocked["detail"] and "fix:" in blocked["detail"]
        clock.advance(60)
    assert [r.status for r in live_runs(server)] == ["job_running"]
    text = run_cli("reconcile")
    assert text.exit_code == 0 and "blocked (a warning): vision/a@1.0.0: stop not made" in text.stdout, text.output
    write_manifests(path, manifest("a", config=LONG, limits={"maxDuration": "2m"}, protect=True), manifest("b"))
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 0 and "1 blocked" in applied.stdout, applied.output
    runs = by_name(server)
    assert runs["a"][0].status == "job_running" and len(runs["b"]) == 1


def test_a_chain_waiting_on_a_failed_upstream_blocks_nothing_else(
        workdir: Path, server: BackgroundServer, clock: ManualClock, store: EmulatorStore) -> None:
    """Issue 34: a downstream whose upstream failed made a plain apply of an unrelated change refuse ("the plan
    has invalid runs") and every reconcile exit 1. Now it is a warning, and the unrelated run is created."""
    store.timing = replace(LifecycleTiming(), fail_at_step=5)
    path = workdir / "runs" / "chain.yaml"
    write_manifests(path, manifest("pretrain", config=LONG), manifest("finetune", dependsOn=["pretrain@1.0.0"]))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(600)
    assert [r.status for r in live_runs(server)] == ["job_failed"]
    write_manifests(path, manifest("pretrain", config=LONG), manifest("finetune", dependsOn=["pretrain@1.0.0"]),
                    manifest("unrelated"))
    planned = run_cli("plan", "--detailed-exitcode")
    assert planned.exit_code == 2 and "finetune@1.0.0: create not made" in planned.stdout, planned.output
    assert run_cli("apply", "--auto-approve").exit_code == 0
    assert "unrelated" in by_name(server) and "finetune" not in by_name(server)
    done = run_cli("reconcile", "--format", "json")
    assert done.exit_code == 0 and json.loads(done.stdout)["blocked"], done.output


def test_events_and_metrics_of_an_address_show_its_current_attempt(workdir: Path, server: BackgroundServer,
                                                                    clock: ManualClock, store: EmulatorStore) -> None:
    """Issue 38: after a retry, `events ADDRESS` and `metrics ADDRESS` showed the dead attempt, not the live one;
    `--attempt N` shows the N-th, oldest first."""
    store.timing = replace(LifecycleTiming(), fail_at_step=5)
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=classifier_config(epochs=2), onFailure={
        "action": "recreate", "maxRetries": 2}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 10)
    store.timing = LifecycleTiming()  # the retry trains to the end
    assert [o["kind"] for o in reconcile()["done"]] == ["create"]
    clock.advance(START + 60)
    first, retry = sorted(live_runs(server), key=lambda r: r.created_at or clock.now())
    assert (first.status, retry.status) == ("job_failed", "job_completed")
    current = run_cli("events", "vision/a@1.0.0").stdout
    assert "job_completed" in current and "injected failure" not in current
    assert "injected failure" in run_cli("events", "vision/a@1.0.0", "--attempt", "1").stdout
    latest = run_cli("metrics", "vision/a@1.0.0", "--format", "json").stdout
    assert latest == run_cli("metrics", "vision/a@1.0.0", "--format", "json", "--attempt", "2").stdout
    assert {m["run_id"] for m in json.loads(latest)} == {retry.id}
    beyond = run_cli("events", "vision/a@1.0.0", "--attempt", "3")
    assert beyond.exit_code == 1 and "has 2 attempt(s) of ours" in beyond.stderr
