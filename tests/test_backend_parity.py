"""One plan whatever the backend (issue 36): each scenario is set up on one loopback emulator, then planned over
our REST client and through the SDK (the stand-in of ``tests/sdk/``, strict to the reference) and the two plans
must be equal, item by item. Server-filled defaults are no difference on either; what the SDK cannot know (a
blueprint's version behind a pattern, its schema) is the one thing allowed to differ, and it is named here."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.sync import ChariotClient
from chariot_apply.emulator.clock import ManualClock
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, create_directly, live_runs, manifest, use_standin_sdk, write_manifests

TASK = "Image Classification"


@pytest.fixture
def two_backends(request: pytest.FixtureRequest, workdir: Path, server: BackgroundServer,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, dict[str, Any]]]:
    """``plan(*args)`` run on each backend: {"rest": document, "sdk": document}."""
    use_standin_sdk(request, monkeypatch)

    def plan(*args: str) -> dict[str, dict[str, Any]]:
        documents = {}
        for backend in ("rest", "sdk"):
            with monkeypatch.context() as env:
                env.setenv("CHARIOT_APPLY_BACKEND", backend)
                if backend == "sdk":
                    env.delenv("CHARIOT_URL")
                    env.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
                done = run_cli("plan", "--format", "json", *args)
                assert done.exit_code in (0, 1, 2), done.output
                documents[backend] = json.loads(done.stdout) | {"exit": done.exit_code}
        return documents

    return plan


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """A plan document without what names the backend or what only a blueprint's schema can say."""
    return {"exit": document["exit"], "summary": document["summary"],
            "items": [_item(i) for i in document["plan"]["items"]]}


AGE = re.compile(r"it has run [0-9dhms ]+")


def _item(item: dict[str, Any]) -> dict[str, Any]:
    """An item without its blueprint's version (the SDK can say it only where the manifest names it exactly:
    ``same_blueprint_versions`` checks it is the same or unknown) and without a run's age to the second (the wall
    clock moves between the two plans)."""
    item = item | {"reason": AGE.sub("it has run <age>", str(item.get("reason")))}
    if isinstance(item.get("blueprint"), dict):
        item = item | {"blueprint": {k: v for k, v in item["blueprint"].items() if k != "version"}}
    return item


def same_blueprint_versions(rest: dict[str, Any], sdk: dict[str, Any]) -> None:
    for ours, theirs in zip(rest["plan"]["items"], sdk["plan"]["items"], strict=True):
        if isinstance(ours.get("blueprint"), dict):
            assert theirs["blueprint"]["version"] in ("", ours["blueprint"]["version"])


@pytest.fixture
def clock() -> ManualClock:
    """The emulator's clock ten minutes behind the wall clock while a scenario is set up, and caught up with it
    (``catch_up``) before the plans: the SDK shows no answer's Date header, so the SDK backend measures a run's
    age on the local clock (on a real Chariot the two agree within seconds)."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))


def catch_up(clock: ManualClock) -> None:
    clock.advance((datetime.now(UTC) - clock.now()).total_seconds())


def runs(path: Path, *manifests: dict[str, Any]) -> None:
    write_manifests(path / "runs" / "runs.yaml", *manifests)


def applied(workdir: Path, *manifests: dict[str, Any]) -> None:
    runs(workdir, *manifests)
    done = run_cli("apply", "--auto-approve")
    assert done.exit_code == 0, done.output


def alpha(**spec: Any) -> dict[str, Any]:
    return manifest("alpha", taskType=TASK, **spec)


def test_the_reproduction_an_edit_to_a_default_the_server_filled_is_no_replace(
        workdir: Path, two_backends: Callable[..., dict[str, dict[str, Any]]]) -> None:
    applied(workdir, alpha())
    runs(workdir, alpha(config=classifier_config(learning_rate=0.001)))
    plans = two_backends()
    assert comparable(plans["rest"]) == comparable(plans["sdk"])
    assert plans["sdk"]["exit"] == 0


def beta(**spec: Any) -> dict[str, Any]:
    return manifest("beta", taskType=TASK, **spec)


LONG = classifier_config(epochs=200)
Scenario = Callable[[Path, BackgroundServer, ManualClock], tuple[str, ...]]


def up_to_date(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(), beta(config=classifier_config(batch_size=64)))
    return ()


def nested_default_filled(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(config=classifier_config(optimizer={"name": "sgd"})))
    runs(workdir, alpha(config=classifier_config(optimizer={"name": "sgd"}), notes="edited"))
    return ()


def dropped_key(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    """A key the manifest declared and no longer does is a difference on both, default or not."""
    applied(workdir, alpha(config=classifier_config(learning_rate=0.01)), beta(config=classifier_config(
        batch_size=32)), manifest("gamma", taskType=TASK, resources_={"cpu": "1", "memory": "2Gi",
                                                                        "ephemeralStorage": "1Gi"}))
    runs(workdir, alpha(), beta(), manifest("gamma", taskType=TASK))
    return ()


def replaced(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(), beta())
    runs(workdir, alpha(config=classifier_config(epochs=3)), beta(resources_={"cpu": "2", "memory": "2Gi"}))
    return ("--allow-replace",)


def drifted(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    """Another writer deleted one of our runs and made one at an address we declare."""
    applied(workdir, alpha(), beta())
    with ChariotClient(AsyncChariotClient(server.url)) as other:
        other.delete_run(next(str(r.id) for r in live_runs(server) if r.name == "alpha"))
    runs(workdir, alpha(), beta(), manifest("gamma", taskType=TASK))
    create_directly(server, "gamma")
    return ()


def stopped_and_deleted(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(config=LONG), beta(config=LONG))
    runs(workdir, alpha(config=LONG, state="stopped"), beta(config=LONG, state="absent"))
    return ()


def pruned(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(), beta())
    runs(workdir, alpha())
    return ("--prune",)


def past_its_limit(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(config=LONG, limits={"maxDuration": "2m"}), beta(config=LONG))
    return ()


def protected_past_its_limit(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha(config=LONG, limits={"maxDuration": "2m"}, protect=True))
    return ()


def finished_and_waiting(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    applied(workdir, alpha())
    runs(workdir, alpha(), beta(dependsOn=["vision/alpha@1.0.0"]), manifest("gamma", taskType=TASK,
                                                                           dependsOn=["vision/delta@1.0.0"]),
         manifest("delta", taskType=TASK, config=LONG))
    return ()


def failed_by_cause(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    """Issue 38 on both backends: a divergence the rule excepts is left, and one it retries is retried; the cause
    is read from each failed run's last event."""
    diverging = classifier_config(epochs=4, learning_rate=0.5)
    applied(workdir, alpha(config=diverging, onFailure={"action": "recreate", "except": ["diverged"]}),
            beta(config=diverging, onFailure={"action": "recreate", "retryOn": ["diverged"]}))
    clock.advance(300)
    return ()


def swept(width: int | None = None, early: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"blueprint": {"name": "image-classifier", "version": "2.%"},
                                         "taskType": TASK, "resources": {"cpu": "1", "memory": "1Gi"},
                                         "config": classifier_config(epochs=200)},
                            "matrix": {"grid": {"config.learning_rate": [0.00001, 0.0001, 0.001, 0.003, 0.01]}}}
    if width is not None:
        spec["maxConcurrent"] = width
    if early:
        spec["earlyStop"] = {"metric": "train/loss", "atSteps": [10], "minPoints": 3}
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "sw", "version": "1", "project": "vision"}, "spec": spec}


def in_waves(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    """Issue 38 on both backends: a sweep of width 2, two points created, three queued."""
    runs(workdir, swept(width=2))
    return ()


def stopped_early(workdir: Path, server: BackgroundServer, clock: ManualClock) -> tuple[str, ...]:
    """Issue 38 on both backends: the points the median rule names at step 10, from the same metrics."""
    applied(workdir, swept(early=True))
    clock.advance(20)
    return ()


SCENARIOS: dict[str, Scenario] = {f.__name__: f for f in (in_waves, stopped_early,
    up_to_date, nested_default_filled, dropped_key, replaced, drifted, stopped_and_deleted, pruned, past_its_limit,
    protected_past_its_limit, finished_and_waiting, failed_by_cause)}


KINDS = {"drifted": {"conflict", "create", "no-op"}, "dropped_key": {"blocked-replace"},
         "failed_by_cause": {"failed", "create"}, "in_waves": {"create", "waiting"},
         "stopped_early": {"stop", "no-op"},
         "finished_and_waiting": {"create", "no-op", "waiting"}, "nested_default_filled": {"no-op"},
         "past_its_limit": {"stop", "no-op"}, "protected_past_its_limit": {"blocked"}, "pruned": {"delete", "no-op"},
         "replaced": {"replace"}, "stopped_and_deleted": {"delete", "stop"}, "up_to_date": {"no-op"}}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_both_backends_plan_the_same(name: str, workdir: Path, server: BackgroundServer, clock: ManualClock,
                                     two_backends: Callable[..., dict[str, dict[str, Any]]]) -> None:
    args = SCENARIOS[name](workdir, server, clock)
    catch_up(clock)
    plans = two_backends(*args)
    rest, sdk = comparable(plans["rest"]), comparable(plans["sdk"])
    assert [i["address"] for i in rest["items"]] == [i["address"] for i in sdk["items"]]
    for ours, theirs in zip(rest["items"], sdk["items"], strict=True):
        assert ours == theirs, DeepDiff(ours, theirs).pretty()
    assert rest == sdk
    same_blueprint_versions(plans["rest"], plans["sdk"])
    assert {i["kind"] for i in rest["items"]} == KINDS[name]  # the scenario plans what it is named for


def test_the_marker_records_which_keys_were_declared_and_old_markers_still_parse() -> None:
    from chariot_apply.plan.ownership import (
        Marker,
        compose_notes,
        declared_keys,
        declared_paths,
        parse_notes,
        was_declared,
    )

    config = {"epochs": 1, "optimizer": {"name": "sgd"}, "a.b": 2, "augment": [{"x": 1}]}
    keys = declared_keys(declared_paths(config, ["gpu"]))
    notes, marker = parse_notes(compose_notes("my notes", Marker("team", "0" * 16, secret=("a.b",), keys=keys)))
    assert notes.rstrip() == "my notes" and marker is not None and marker.keys == keys and marker.secret == ("a.b",)
    for path in [("config", "epochs"), ("config", "optimizer"), ("config", "optimizer", "name"), ("config", "a.b"),
                 ("config", "augment"), ("resources", "gpu")]:
        assert was_declared(keys, path), path
    for path in [("config", "a", "b"), ("config", "optimizer", "weight_decay"), ("config", "augment", "x"),
                 ("resources", "ephemeralStorage"), ("config", "batch_size")]:
        assert not was_declared(keys, path), path
    _, old = parse_notes("[chariot-apply owner=team spec=0123456789abcdef apply=9c41d2e07a3b]")
    assert old is not None and old.keys is None and old.apply == "9c41d2e07a3b"
    _, empty = parse_notes(compose_notes(None, Marker("team", "0" * 16, keys=declared_keys([]))))
    assert empty is not None and empty.keys == "" and not was_declared("", ("config", "epochs"))
