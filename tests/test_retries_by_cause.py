"""Issue 38: retries by cause. `onFailure` recreated after any failure, so a deterministic divergence spent every
attempt; now the failed run's last event names a cause, matched against `retryOn`/`except`, with a backoff by the
server's clock and a guard against a run that fails every few minutes. End to end on the emulator."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chariot_apply.chariot.models import Event
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.lifecycle import LifecycleTiming
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from chariot_apply.plan.causes import CAUSES, cause_of
from tests.cli_helpers import run_cli
from tests.factories import START, classifier_config, live_runs, manifest, write_manifests


def event(**details: Any) -> Event:
    return Event(id="e", run_id="r", sequence=9, created_at=datetime(2026, 1, 1, tzinfo=UTC), status="job_failed",
                 details=details)


@pytest.mark.parametrize(("details", "cause"), [
    ({"reason": "training diverged: the loss is not a number at step 6"}, "diverged"),
    ({"reason": "loss is NaN"}, "diverged"),
    ({"reason": "out of memory: resnet50 with batch size 512 needs 80 GiB", "exit_code": 137}, "out_of_memory"),
    ({"exit_code": 137}, "out_of_memory"),
    ({"reason": "the job was preempted at step 4: its node was reclaimed"}, "preempted"),
    ({"reason": "the node running the job failed at step 3: GPU fell off the bus (Xid 79)"}, "infrastructure"),
    ({"reason": "NCCL watchdog: collective operation timed out"}, "timeout"),
    ({"reason": "start_model: checkpoint 123 does not exist"}, "configuration"),
    ({"reason": "the training process exited at step 5"}, "unknown"),
    ({"cause": "preempted", "reason": "whatever it says"}, "preempted"),  # a cause the platform names wins
    ({"cause": "cosmic rays"}, "unknown"),  # one we do not know is not trusted
    ({}, "unknown"),
])
def test_the_cause_of_a_failure_is_read_from_its_last_event(details: dict[str, Any], cause: str) -> None:
    assert cause_of(event(**details)) == cause and cause in CAUSES


def test_no_last_event_is_an_unknown_cause() -> None:
    assert cause_of(None) == "unknown"


LONG = classifier_config(epochs=40)


def reconcile() -> list[tuple[str, bool]]:
    done = run_cli("reconcile", "--format", "json")
    assert done.exit_code in (0, 1), done.output
    return [(o["kind"], o["ok"]) for o in json.loads(done.stdout)["done"]]


def test_a_diverged_run_is_not_retried_when_the_rule_excepts_it(workdir: Path, server: BackgroundServer,
                                                               clock: ManualClock) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=classifier_config(epochs=4, learning_rate=0.5),
                                                         onFailure={"action": "recreate", "except": ["diverged"]}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 30)
    (failed,) = live_runs(server)
    assert failed.status == "job_failed"
    text = run_cli("plan").stdout
    assert f"run {failed.id} failed (diverged: training diverged" in text
    assert "spec.onFailure does not retry a diverged failure (except ['diverged']); left as it is" in text
    assert reconcile() == [] and len(live_runs(server)) == 1  # no attempt spent on a deterministic failure


def test_an_infrastructure_failure_is_retried_after_its_backoff_and_a_thrashing_run_is_not(
        workdir: Path, server: BackgroundServer, clock: ManualClock, store: EmulatorStore) -> None:
    store.timing = replace(LifecycleTiming(), fail_at_step=3, fail_cause="infrastructure")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, onFailure={
        "action": "recreate", "maxRetries": 5, "retryOn": ["infrastructure", "preempted"],
        "backoff": {"initial": "5m", "factor": 2}, "thrash": {"failures": 3, "within": "1h"}}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 5)  # it failed at step 3, its node lost
    waiting = run_cli("plan").stdout
    assert "retry attempt 2 of 6 after run" in waiting and "failed (infrastructure: the node running the job " \
           "failed at step 3" in waiting and "(spec.onFailure.backoff: 5m after that failure)" in waiting, waiting
    assert reconcile() == []  # not before its time
    clock.advance(5 * 60)
    assert reconcile() == [("create", True)]
    clock.advance(START + 5)  # the second attempt fails the same way
    clock.advance(9 * 60)
    assert reconcile() == [], "the second backoff is 10m, not 5m"
    clock.advance(60)
    assert reconcile() == [("create", True)]
    clock.advance(START + 5)  # a third failure within the hour: it thrashes
    clock.advance(60 * 60 - 20 * 60 - 2 * (START + 5) - 60)
    text = run_cli("plan").stdout
    assert "it failed 3 times within 1h (spec.onFailure.thrash): not retried until it is fixed" in text, text
    assert reconcile() == [] and len(live_runs(server)) == 3


def test_a_cause_outside_retry_on_is_not_retried(workdir: Path, server: BackgroundServer, clock: ManualClock,
                                                 store: EmulatorStore) -> None:
    store.timing = replace(LifecycleTiming(), fail_at_step=3)  # the process exited: cause unknown
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", config=LONG, onFailure={
        "action": "recreate", "retryOn": ["infrastructure", "preempted"]}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 5)
    assert "spec.onFailure does not retry a unknown failure (retryOn ['infrastructure', 'preempted'])" in \
        run_cli("plan").stdout
    assert reconcile() == []
    store.timing = replace(LifecycleTiming(), fail_at_step=3, fail_cause="preempted")
    write_manifests(workdir / "runs" / "a.yaml", manifest("a", version="2", config=LONG, onFailure={
        "action": "recreate", "retryOn": ["infrastructure", "preempted"]}))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    clock.advance(START + 5)
    assert reconcile() == [("create", True)]  # a preemption is retried at once (no backoff declared)
