"""``build_plan`` as the pure function it is: small ``LiveState`` factories, no emulator, one row per rule.

The end-to-end tests drive the same rules through HTTP; these pin each rule exactly and run in milliseconds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chariot_apply.chariot.models import Resources
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.live import LiveState
from chariot_apply.plan.model import Plan, PlanOptions
from tests.plan_factories import OWNER, declared, live, state


def plan(runs: list[DeclaredRun], live_state: LiveState, **options: Any) -> Plan:
    return build_plan(runs, live_state, PlanOptions(owner=OWNER, **options))


def kinds(result: Plan) -> list[tuple[str, str]]:
    return [(i.address, i.kind) for i in result.items]


A = "vision/a@1.0.0"

# The README's state table: declared state x what is live -> the one item planned.
STATE_TABLE = [
    ("running", None, "create"),
    ("running", "job_running", "no-op"),
    ("running", "job_completed", "no-op"),
    ("stopped", None, "no-op"),
    ("stopped", "job_running", "stop"),
    ("stopped", "job_completed", "no-op"),
    ("absent", None, "no-op"),
    ("absent", "job_running", "delete"),
    ("absent", "job_completed", "delete"),
]


@pytest.mark.parametrize(("declared_state", "live_status", "kind"), STATE_TABLE)
def test_the_state_table(declared_state: str, live_status: str | None, kind: str) -> None:
    run = declared(state=declared_state)
    runs = [live(declared(), status=live_status)] if live_status else []
    assert kinds(plan([run], state(*runs))) == [(A, kind)]


def test_a_finished_run_that_is_declared_running_is_left_alone_and_says_so() -> None:
    (item,) = plan([declared()], state(live(status="job_completed"))).items
    assert item.kind == "no-op" and "finished (job_completed); left alone" in item.reason


@pytest.mark.parametrize("owner", [None, "other-team"])
@pytest.mark.parametrize("declared_state", ["running", "stopped", "absent"])
def test_a_run_we_do_not_own_is_a_conflict_whatever_is_declared(owner: str | None, declared_state: str) -> None:
    result = plan([declared(state=declared_state)], state(live(owner=owner)))
    assert kinds(result) == [(A, "conflict")] and not result.has_changes and result.unreached == 1


def test_an_adopted_run_is_ours() -> None:
    theirs = live(owner=None, status="job_running")
    result = plan([declared(state="absent")], state(theirs, adopted=frozenset({theirs.id or ""})))
    assert kinds(result) == [(A, "delete")]


@pytest.mark.parametrize(("allow", "spec_allow", "kind"), [
    (False, False, "blocked-replace"), (True, False, "replace"), (False, True, "replace")])
def test_the_replace_policy(allow: bool, spec_allow: bool, kind: str) -> None:
    old = declared(config={"epochs": 1, "dataset_id": "ds-1"})
    new = declared(config={"epochs": 9, "dataset_id": "ds-1"}, **({"allowReplace": True} if spec_allow else {}))
    result = plan([new], state(live(old)), allow_replace=allow)
    assert kinds(result) == [(A, kind)]
    (item,) = result.items
    assert [(d.path, d.live, d.declared) for d in item.differences] == [("config.epochs", 1, 9)]  # type: ignore[union-attr]


@pytest.mark.parametrize(("declared_cpu", "live_cpu", "kind"), [
    ("1", "1000m", "no-op"), ("500m", "0.5", "no-op"), ("2", "1", "blocked-replace")])
def test_quantities_compare_by_value(declared_cpu: str, live_cpu: str, kind: str) -> None:
    run = declared(resources_={"cpu": declared_cpu, "memory": "2Gi"})
    current = live(run, resources=Resources(cpu=live_cpu, memory=str(2 * 1024**3)))
    assert kinds(plan([run], state(current))) == [(A, kind)]


def test_server_filled_defaults_are_not_differences() -> None:
    run = declared()
    current = live(run, config={**run.spec.config, "batch_size": 32})  # the schema's default, filled in
    assert kinds(plan([run], state(current))) == [(A, "no-op")]


def test_a_key_removed_from_the_manifest_counts_once_the_user_edited_the_run() -> None:
    before = declared(config={"epochs": 1, "dataset_id": "ds-1", "batch_size": 64})
    after = declared(config={"epochs": 1, "dataset_id": "ds-1"})
    result = plan([after], state(live(before)))
    (item,) = result.items
    assert item.kind == "blocked-replace"
    assert [(d.path, d.live) for d in item.differences] == [("config.batch_size", 64)]  # type: ignore[union-attr]


@pytest.mark.parametrize(("prune", "kind"), [(False, "prune-candidate"), (True, "delete")])
def test_owned_runs_no_manifest_declares(prune: bool, kind: str) -> None:
    orphan = live(declared("gone"))
    unowned = live(declared("theirs"), owner=None)
    result = plan([declared()], state(live(), orphan, unowned, complete=True), prune=prune)
    assert kinds(result) == [(A, "no-op"), ("vision/gone@1.0.0", kind)]


@pytest.mark.parametrize("prune", [False, True])
def test_of_several_owned_runs_at_one_address_the_oldest_is_kept(prune: bool) -> None:
    """The rule every racing apply agrees on without talking: oldest by created_at, then id."""
    newest, oldest = live(age=10), live(age=1)
    same_second = live(age=1, id="run-zzzz")  # created in the same instant as `oldest`: the id decides
    result = plan([declared()], state(newest, same_second, oldest), prune=prune)
    kept = [i for i in result.items if i.kind == "no-op"]
    extra = sorted((i.kind, i.live.id if i.live else None) for i in result.items if i.kind != "no-op")
    assert kept[0].live is not None and kept[0].live.id == oldest.id
    assert extra == sorted([("delete", newest.id), ("delete", "run-zzzz")])


def test_targets_and_excludes_select_by_address() -> None:
    runs = [declared("a"), declared("b")]
    assert kinds(plan(runs, state(), targets=("vision/a@*",))) == [(A, "create")]
    assert kinds(plan(runs, state(), excludes=("vision/a@*",))) == [("vision/b@1.0.0", "create")]


def test_the_plan_is_a_pure_function_of_its_inputs() -> None:
    runs = [declared("a"), declared("b", state="stopped")]
    live_state = state(live(declared("b")), live(declared("c")), complete=True)
    first = plan(runs, live_state, prune=True)
    assert plan(runs, replace(live_state), prune=True) == first
    assert plan(list(reversed(runs)), state(*reversed(live_state.runs), complete=True), prune=True) == first
