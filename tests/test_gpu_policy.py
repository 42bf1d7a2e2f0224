"""What a plan costs in GPUs, the team's rules checked at plan time, and the risk of applying it: through the CLI
on the emulator (its cluster offers A100s), and in the pure planner for each rule."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chariot_apply.chariot.models import Gpu, Resources
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.manifest.policy import Policy, PolicyRules
from chariot_apply.plan.diff import build_plan
from chariot_apply.plan.model import Plan, PlanOptions, Violation
from tests.cli_helpers import run_cli
from tests.factories import classifier_config, manifest, write_manifests
from tests.plan_factories import OWNER, T0, declared, live, state

ROOT = Path(__file__).resolve().parents[1]
A100x2 = {"cpu": "4", "memory": "16Gi", "gpu": {"count": 2, "type": "A100"}}


def sweep(points: int = 4, **template: Any) -> dict[str, Any]:
    """A learning-rate sweep of ``points`` runs of 2 A100s each, with maxDuration 12h unless told otherwise."""
    body = {"blueprint": {"name": "image-classifier", "version": "2.%"}, "taskType": "Image Classification",
            "resources": A100x2, "config": classifier_config(), "limits": {"maxDuration": "12h"}} | template
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRunSweep",
            "metadata": {"name": "lr", "version": "1", "project": "vision"},
            "spec": {"template": body, "matrix": {"grid": {
                "config.learning_rate": [0.0001 * 2**i for i in range(points)]}}}}


def project_file(workdir: Path, **extra: Any) -> Path:
    path = workdir / "chariot-apply.yaml"
    path.write_text(yaml.safe_dump({"owner": "team-test", "project": "vision", "manifests": ["runs/"], **extra},
                                   sort_keys=False))
    return path


def test_a_sweep_of_a100_runs_shows_its_gpus_and_gpu_hours_in_text_markdown_and_json(
        workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "sweep.yaml", sweep())
    text = run_cli("plan")
    assert text.exit_code == 0 and "GPUs: +8 A100, ≤ 96 GPU-hours" in text.stdout, text.output
    markdown = run_cli("plan", "--format", "markdown").stdout
    assert "| A100 | +8 | 8 |" in markdown and "GPU-hours added: **≤ 96**" in markdown
    document = json.loads(run_cli("plan", "--format", "json").stdout)
    jsonschema.validate(document, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    footprint = document["plan"]["footprint"]
    assert footprint["change"] == {"A100": 8} and footprint["gpu_hours"] == 96 and footprint["unbounded"] == []
    assert {a["gpus"] for a in footprint["actions"]} == {2} and document["plan"]["risk"]["level"] == "low"
    assert run_cli("apply", "--auto-approve").exit_code == 0
    status = run_cli("status")
    assert "GPUs in use" in status.stdout or "waiting for GPUs" in status.stdout, status.stdout
    again = json.loads(run_cli("plan", "--format", "json").stdout)["plan"]["footprint"]
    assert again["change"] == {} and again["in_use"] == {"A100": 8} and again["after"] == {"A100": 8}


def test_the_same_sweep_under_a_concurrency_budget_fails_with_the_rule_and_each_run_located(
        workdir: Path, server: BackgroundServer) -> None:
    path = project_file(workdir, policy={"maxConcurrentGpus": {"A100": 6}})
    write_manifests(workdir / "runs" / "sweep.yaml", sweep())
    refused = run_cli("plan")
    assert refused.exit_code == 1, refused.output
    rule_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "maxConcurrentGpus" in line)
    # The four points share their template's line: said once, with every address.
    assert "4 runs (vision/lr-lr0.0001@1, vision/lr-lr0.0002@1, vision/lr-lr0.0004@1, vision/lr-lr0.0008@1)" in \
        refused.stdout and "8 A100 at once after this apply" in refused.stdout, refused.stdout
    assert f"rule: policy.maxConcurrentGpus (chariot-apply.yaml:{rule_line}:" in refused.stdout
    violations = [i for i in json.loads(run_cli("plan", "--format", "json").stdout)["plan"]["items"]
                  if i["kind"] == "violation"]
    assert len(violations) == 4 and all(v["problems"][0]["location"].startswith("runs/sweep.yaml:") and
                                        v["rule_location"].startswith(f"chariot-apply.yaml:{rule_line}:")
                                        for v in violations)
    applied = run_cli("apply", "--auto-approve")
    assert applied.exit_code == 1 and "breaks 4 of the team's rules; nothing was applied" in applied.stderr


def test_rule_sets_by_environment_override_the_default(workdir: Path, server: BackgroundServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    project_file(workdir, policy={"maxGpusPerRun": 8}, policies={"prod": {"maxGpusPerRun": 1}})
    write_manifests(workdir / "runs" / "sweep.yaml", sweep(points=1))
    assert run_cli("plan").exit_code == 0
    monkeypatch.setenv("CHARIOT_APPLY_POLICY", "prod")
    strict = run_cli("plan")
    assert strict.exit_code == 1 and "2 GPUs is more than 1 a run" in strict.stdout
    monkeypatch.setenv("CHARIOT_APPLY_POLICY", "staging")
    unknown = run_cli("plan")
    assert unknown.exit_code == 1 and "no policies.staging" in unknown.stderr


# ------------------------------------------------------------------------------------------------ each rule, pure

def gpu_run(name: str, count: int = 2, gpu_type: str = "A100", **spec: Any) -> Any:
    return declared(name, resources_={"cpu": "4", "memory": "16Gi", "gpu": {"count": count, "type": gpu_type}},
                    **spec)


def plan_with(runs: list[Any], rules: dict[str, Any] | None = None, *live_runs: Any, **options: Any) -> Plan:
    policy = Policy(rules=PolicyRules.model_validate(rules), written_at={"": "chariot-apply.yaml:3:1"}) \
        if rules is not None else None
    live_state = replace(state(*live_runs), gpu_types=frozenset({"A100", "T4"}), now=T0 + timedelta(hours=3))
    return build_plan(runs, live_state, PlanOptions(owner=OWNER, policy=policy, **options))


def rules_broken(result: Plan) -> list[tuple[str, str, str]]:
    return sorted((v.address, v.rule, v.problems[0].path) for v in result.violations)


@pytest.mark.parametrize(("rules", "runs", "broken"), [
    ({"allowedGpuTypes": {"vision": ["T4"]}}, [gpu_run("a")],
     [("vision/a@1.0.0", "policy.allowedGpuTypes", "spec.resources.gpu.type")]),
    ({"allowedGpuTypes": {"*": ["A100"]}}, [gpu_run("a")], []),
    ({"maxGpusPerRun": 1}, [gpu_run("a"), gpu_run("b", count=1)],
     [("vision/a@1.0.0", "policy.maxGpusPerRun", "spec.resources.gpu.count")]),
    ({"maxConcurrentGpusPerProject": {"vision": {"A100": 3}}}, [gpu_run("a"), gpu_run("b")],
     [("vision/a@1.0.0", "policy.maxConcurrentGpusPerProject", "spec.resources.gpu"),
      ("vision/b@1.0.0", "policy.maxConcurrentGpusPerProject", "spec.resources.gpu")]),
    ({"maxConcurrentGpus": {"*": 4}}, [gpu_run("a"), gpu_run("b", gpu_type="T4")], []),
    ({"maxConcurrentGpus": {"*": 3}}, [gpu_run("a"), gpu_run("b", gpu_type="T4")],
     [("vision/a@1.0.0", "policy.maxConcurrentGpus", "spec.resources.gpu"),
      ("vision/b@1.0.0", "policy.maxConcurrentGpus", "spec.resources.gpu")]),
    ({"maxGpuHoursPerPlan": 10}, [gpu_run("a", limits={"maxDuration": "6h"})],
     [("vision/a@1.0.0", "policy.maxGpuHoursPerPlan", "spec.resources.gpu")]),
    ({"maxGpuHoursPerPlan": 10}, [gpu_run("a", limits={"maxDuration": "4h"}), gpu_run("b")],
     [("vision/b@1.0.0", "policy.maxGpuHoursPerPlan", "spec.resources.gpu")]),  # no bound: only b breaks it
    ({"maxDurationRequiredAbove": 1}, [gpu_run("a"), gpu_run("b", limits={"maxDuration": "1h"}),
                                       gpu_run("c", count=1)],
     [("vision/a@1.0.0", "policy.maxDurationRequiredAbove", "spec.resources.gpu")]),
    ({"requiredNotes": True}, [gpu_run("a"), gpu_run("b", notes="the baseline")],
     [("vision/a@1.0.0", "policy.requiredNotes", "spec.notes")]),
])
def test_each_rule_is_checked_and_located(rules: dict[str, Any], runs: list[Any],
                                          broken: list[tuple[str, str, str]]) -> None:
    result = plan_with(runs, rules)
    assert rules_broken(result) == broken
    assert result.needs_attention == len(broken)
    for violation in result.violations:
        assert violation.problems[0].location.startswith("runs.yaml:")
        assert violation.rule_location == "chariot-apply.yaml:3:1"


def with_gpus(run: Any, count: int = 2) -> Any:
    """The live run of ``run``, holding its GPUs."""
    return live(run, resources=Resources(cpu="4", memory="16Gi", gpu=Gpu(count=count, type="A100")))


def test_a_budget_already_over_does_not_refuse_a_plan_that_frees_gpus() -> None:
    a, b = gpu_run("a"), gpu_run("b", state="absent")
    result = plan_with([a, b], {"maxConcurrentGpus": {"A100": 1}}, with_gpus(a), with_gpus(b))
    assert result.violations == () and result.footprint.change == {"A100": -2}


def test_a_protected_run_is_never_stopped_deleted_or_replaced_without_allow_protected() -> None:
    running = gpu_run("a", protect=True, state="stopped")
    live_run = with_gpus(running)
    refused = plan_with([running], None, live_run)
    (violation,) = refused.violations
    assert violation.rule == "spec.protect" and violation.problems[0].path == "spec.protect"
    allowed = plan_with([running], None, live_run, allow_protected=True)
    assert allowed.violations == () and [c.kind for c in allowed.changes] == ["stop"]
    assert allowed.risk.level == "high" and "stop of vision/a@1.0.0, a protected run" in allowed.risk.reasons


@pytest.mark.parametrize("limits", [{"maxDuration": "1h"}, {"stall": {"noProgressFor": "10m", "action": "recreate"}}])
def test_a_lifecycle_stop_or_recreate_of_a_protected_run_is_blocked_not_refused(limits: dict[str, Any]) -> None:
    """Past its limit, a protected run trains on (issue 34): the stop (or the stall's recreate) is a located
    warning with its fix, not a violation: it fails nothing and blocks no other change. With --allow-protected it
    is carried out."""
    protected = gpu_run("a", protect=True, limits=limits)
    other = gpu_run("b")
    stalled = with_gpus(protected).model_copy(update={"progress_updated_at": T0})  # 3 h before the plan
    result = plan_with([protected, other], None, stalled)
    (blocked,) = result.blocked
    assert blocked.address == "vision/a@1.0.0" and blocked.action in ("stop", "replace")
    assert blocked.location == str(protected.where("spec.protect")) and "--allow-protected" in blocked.fix
    assert result.violations == () and result.needs_attention == 0
    assert [c.address for c in result.changes] == ["vision/b@1.0.0"]  # the unrelated create goes ahead
    allowed = plan_with([protected, other], None, stalled, allow_protected=True)
    assert allowed.blocked == () and {c.kind for c in allowed.lifecycle_actions} == {blocked.action}


def test_a_replace_of_a_run_that_trained_two_hours_is_high_risk_and_one_cpu_create_is_low() -> None:
    old = declared("a", config={"epochs": 1, "dataset_id": "ds-1"})
    new = declared("a", config={"epochs": 2, "dataset_id": "ds-1"}, allowReplace=True)
    trained = live(old, created_at=T0 + timedelta(hours=1))  # the plan is made at T0 + 3h: it has run 2h
    risky = plan_with([new], None, trained)
    assert [c.kind for c in risky.changes] == ["replace"]
    assert risky.risk.level == "high" and risky.risk.reasons == (
        "replace of vision/a@1.0.0, a run that has trained for 2h",)
    calm = plan_with([declared("b")], None)
    assert [c.kind for c in calm.changes] == ["create"] and calm.risk.level == "low" and calm.risk.reasons == ()
    young = plan_with([new], None, live(old, created_at=T0 + timedelta(hours=2, minutes=30)))
    assert young.risk.level == "low"


def test_many_gpus_added_is_high_risk_and_prices_turn_hours_into_money() -> None:
    runs = [gpu_run(f"r{i}", count=4, limits={"maxDuration": "10h"}) for i in range(3)]
    result = plan_with(runs, {"highRiskGpus": 8}, prices={"A100": 2.5})
    assert result.risk.level == "high" and result.risk.reasons == ("it adds 12 GPUs (more than 8)",)
    assert result.footprint.cost == 300.0 and result.footprint.headline() == "+12 A100, ≤ 120 GPU-hours (≤ 300.00)"
    unpriced = plan_with(runs, None, prices={"T4": 1.0})
    assert unpriced.footprint.cost is None  # not every type added has a price: no money said


def test_the_footprint_is_worked_out_from_what_the_plan_fetched(workdir: Path, server: BackgroundServer) -> None:
    """Rules and prices add no request: the same plan with and without them asks Chariot the same."""
    import asyncio

    from chariot_apply.usecases import planning
    from chariot_apply.workspace import project as project

    write_manifests(workdir / "runs" / "sweep.yaml", sweep())

    def requests(**options: Any) -> int:
        ws = project.open_workspace(env={"CHARIOT_URL": server.url})

        async def plan() -> int:
            async with ws.client() as client:
                before = client.requests_sent
                await planning.plan(ws, ws.plan_options(**options))
                return client.requests_sent - before
        try:
            return asyncio.run(plan())
        finally:
            asyncio.run(ws.close())

    requests()  # the first plan writes the lock file; the next ones read through it
    plain = requests()
    project_file(workdir, prices={"A100": 2.0}, policy={"maxConcurrentGpus": {"A100": 100}, "maxGpusPerRun": 8})
    assert requests() == plain and plain > 0


def test_the_pr_comment_has_the_footprint_table_and_a_high_risk_caution() -> None:
    from chariot_apply.render.markdown import render_markdown

    runs = [gpu_run(f"r{i}", count=4, limits={"maxDuration": "10h"}) for i in range(3)]
    text = render_markdown(plan_with(runs, {"highRiskGpus": 8}))
    head = text.split("<details>")[0]
    assert "| A100 | +12 | 12 |" in head and "**High risk**: it adds 12 GPUs" in head


def test_violations_are_attention_items_in_the_schema() -> None:
    from chariot_apply.plan.document import plan_json_schema

    schema = plan_json_schema()
    for name in ("Footprint", "Risk", "Violation", "Policy"):
        assert name in schema["$defs"], name
    assert isinstance(Violation.model_fields["rule_location"].annotation, type)


def test_policy_as_code_runs_a_teams_own_checks_over_the_plan_json(workdir: Path, server: BackgroundServer) -> None:
    """The documented example (examples/policy/checks.py) over a real plan document: it passes a plan within its
    rules and refuses one that breaks them, each refusal said."""
    import subprocess
    import sys

    checks = ROOT / "examples" / "policy" / "checks.py"
    write_manifests(workdir / "runs" / "sweep.yaml", sweep())
    within = run_cli("plan", "--format", "json").stdout
    passed = subprocess.run([sys.executable, str(checks), "-"], input=within, capture_output=True, text=True)
    assert passed.returncode == 0 and "4 checks, 0 refusal(s)" in passed.stdout, passed.stdout + passed.stderr
    write_manifests(workdir / "runs" / "sweep.yaml", sweep(limits={}),
                    manifest("big", resources_={"cpu": "8", "memory": "64Gi", "gpu": {"count": 1, "type": "H100"}}))
    beyond = run_cli("plan", "--format", "json").stdout
    jsonschema.validate(json.loads(beyond), json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    refused = subprocess.run([sys.executable, str(checks), "-"], input=beyond, capture_output=True, text=True)
    assert refused.returncode == 1, refused.stdout
    assert "refused: vision/big@1.0.0: H100s are for the nlp project" in refused.stdout
    assert refused.stdout.count("adds GPUs with no spec.limits.maxDuration") == 5


def test_the_action_says_the_risk_and_lets_a_protected_run_go_only_with_the_reviewers_label(
        repo: Path, runner: Any, server: BackgroundServer, github: Any, tmp_path: Path) -> None:
    from tests.action_harness import OPENED, chariot_inputs

    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("keep", protect=True))
    dispatch = chariot_inputs(server, command="apply", **{"on-unreviewed": "apply"})
    assert runner.run(repo, dispatch, OPENED, event_name="workflow_dispatch").returncode == 0
    write_manifests(runs, manifest("keep", protect=True, state="stopped"))
    refused = runner.run(repo, chariot_inputs(server), OPENED)
    assert refused.returncode == 1 and "the run is protected: stop refused" in refused.log, refused.log
    labelled = tmp_path / "labelled.json"
    payload = json.loads(OPENED.read_text())
    payload["pull_request"]["labels"] = [{"name": "chariot-apply: allow-protected"}]
    labelled.write_text(json.dumps(payload))
    allowed = runner.run(repo, chariot_inputs(server), labelled)
    assert allowed.returncode == 0, allowed.log
    assert allowed.outputs["risk"] == "high" and "a protected run" in allowed.outputs["risk-reasons"]
    assert allowed.outputs["gpus"] == "no change in GPUs"
