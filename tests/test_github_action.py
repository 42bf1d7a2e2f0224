"""The GitHub Action: its metadata, and its steps run end to end in a runner-like environment against the
emulator, commenting on a local GitHub stand-in, with real webhook payloads as GITHUB_EVENT_PATH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from chariot_apply.emulator.server import BackgroundServer
from tests.conftest import DATA
from tests.factories import classifier_config, manifest, write_manifests
from tests.github_fake import LIMIT, FakeGitHub

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
SCHEMA = json.loads((DATA / "github" / "github-action.schema.json").read_text())
PAYLOADS = DATA / "github"
OPENED = PAYLOADS / "github_pull_request_opened.json"
SYNCHRONIZE = PAYLOADS / "pull_request_payloads" / "synchronize.payload.json"
TOKEN = "ghs_writeToken123"
CHARIOT_TOKEN_VALUE = "chariot-secret-token-value"


def test_action_metadata_validates_against_the_action_schema() -> None:
    jsonschema.validate(ACTION, SCHEMA)
    for kind, valid in (("positive", True), ("negative", False)):
        for example in (DATA / "github" / "github-action-schema-tests" / kind).glob("*.json"):
            assert jsonschema.Draft7Validator(SCHEMA).is_valid(json.loads(example.read_text())) is valid, example


def test_inputs_reach_scripts_only_through_the_environment() -> None:
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), name
    assert {"has-changes", "exitcode", "summary", "plan-json"} <= set(ACTION["outputs"])
    assert ACTION["runs"]["using"] == "composite"


def _pr_number(payload: Path) -> int:
    return json.loads(payload.read_text())["pull_request"]["number"]


def _repository(payload: Path) -> str:
    return json.loads(payload.read_text())["repository"]["full_name"]


@dataclass
class StepRun:
    returncode: int
    log: str
    outputs: dict[str, str]
    summary: str


def parse_outputs(text: str) -> dict[str, str]:
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            key, delimiter = line.split("<<", 1)
            value = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            outputs[key] = "\n".join(value)
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
    return outputs


class Runner:
    """Runs the composite action's `run` steps as a GitHub runner would: bash, step env with `${{ }}`
    expressions resolved, GITHUB_* variables, files for outputs and the step summary. `uses` steps
    (setup-python) and the install step are skipped: the test environment has chariot-apply installed."""

    def __init__(self, tmp: Path, github_url: str) -> None:
        self.tmp = tmp
        self.github_url = github_url
        self.summary = tmp / "step_summary.md"

    def run(self, workspace: Path, inputs: dict[str, str], event: Path, event_name: str = "pull_request") -> StepRun:
        output = self.tmp / f"output-{len(list(self.tmp.glob('output-*')))}.txt"
        output.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARIOT", "GITHUB_"))}
        env |= {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_PATH": str(event),
                "GITHUB_EVENT_NAME": event_name, "GITHUB_REPOSITORY": _repository(event),
                "GITHUB_API_URL": self.github_url, "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.summary), "RUNNER_TEMP": str(self.tmp),
                "GITHUB_ACTION_PATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
        defaults = {name: self._expand(str(spec.get("default", "")), {}) for name, spec in ACTION["inputs"].items()}
        values = defaults | inputs
        log = []
        returncode = 0
        for step in ACTION["runs"]["steps"]:
            if "run" not in step or step.get("id") == "install":
                continue
            step_env = env | {k: self._expand(str(v), values) for k, v in step.get("env", {}).items()}
            cwd = workspace / self._expand(step.get("working-directory", "."), values)
            done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=step_env, capture_output=True,
                                  text=True, timeout=300)
            log.append(done.stdout + done.stderr)
            returncode = done.returncode
            if returncode:
                break
        return StepRun(returncode, "".join(log), parse_outputs(output.read_text()),
                       self.summary.read_text() if self.summary.exists() else "")

    @staticmethod
    def _expand(text: str, values: dict[str, str]) -> str:
        def resolve(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression == "github.token":
                return TOKEN
            return values[expression.removeprefix("inputs.")]

        return re.sub(r"\$\{\{(.*?)\}\}", resolve, text)


@pytest.fixture
def github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def github_server(github: FakeGitHub) -> Iterator[BackgroundServer]:
    with BackgroundServer(github.app()) as running:
        yield running


@pytest.fixture
def runner(tmp_path: Path, github_server: BackgroundServer) -> Runner:
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return Runner(temp, github_server.url)


def chariot_inputs(server: BackgroundServer, **extra: str) -> dict[str, str]:
    return {"chariot-url": server.url, "token": CHARIOT_TOKEN_VALUE, "working-directory": "training"} | extra


def sticky(github: FakeGitHub, event: Path) -> list[dict]:
    return [c for c in github.thread(_repository(event), _pr_number(event)) if "chariot-apply:plan:" in c["body"]]


def test_plan_posts_then_updates_one_comment(repo: Path, runner: Runner, server: BackgroundServer,
                                             github: FakeGitHub) -> None:
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    first = runner.run(repo, chariot_inputs(server), OPENED)
    assert first.returncode == 0, first.log
    assert first.outputs["has-changes"] == "true" and first.outputs["exitcode"] == "2"
    assert first.outputs["summary"].startswith("Plan: 1 to create")
    assert json.loads(Path(first.outputs["plan-json"]).read_text())["redacted"] is True
    assert "### chariot-apply plan" in first.summary
    (comment,) = sticky(github, OPENED)
    assert "vision/a@1.0.0" in comment["body"] and "Plan: 1 to create" in comment["body"]
    write_manifests(runs, manifest("a"), manifest("b"))
    second = runner.run(repo, chariot_inputs(server), SYNCHRONIZE)
    assert second.returncode == 0, second.log
    (updated,) = sticky(github, SYNCHRONIZE)
    assert updated["id"] == comment["id"] and "Plan: 2 to create" in updated["body"]
    assert [w[0] for w in github.writes] == ["create", "update"]


def test_the_sticky_comment_is_found_on_a_later_page(repo: Path, runner: Runner, server: BackgroundServer,
                                                     github: FakeGitHub) -> None:
    for i in range(230):  # a long discussion before the first plan: ours lands on page 3 of 100-comment pages
        github.add(_repository(OPENED), _pr_number(OPENED), f"comment {i}")
    runs = repo / "training" / "runs" / "a.yaml"
    write_manifests(runs, manifest("a"))
    runner.run(repo, chariot_inputs(server), OPENED)
    write_manifests(runs, manifest("a"), manifest("b"))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    assert len(sticky(github, OPENED)) == 1 and [w[0] for w in github.writes] == ["create", "update"]
    assert "Plan: 2 to create" in sticky(github, OPENED)[0]["body"]


def test_a_read_only_token_warns_and_does_not_fail(repo: Path, runner: Runner, server: BackgroundServer,
                                                   github: FakeGitHub) -> None:
    github.readonly_tokens.add(TOKEN)
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    assert "::warning::GitHub refused to write" in result.log and "fork" in result.log
    assert "Plan: 1 to create" in result.summary and github.writes == []


def test_an_oversized_plan_is_cut_to_fit_keeping_the_summary(repo: Path, runner: Runner, server: BackgroundServer,
                                                             github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "many.yaml",
                    *[manifest(f"run-{i:03d}-{'x' * 60}", config=classifier_config(dataset_id="d" * 200))
                      for i in range(250)])
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    (comment,) = sticky(github, OPENED)
    assert len(comment["body"]) <= LIMIT
    assert "Plan: 250 to create" in comment["body"] and "details were cut" in comment["body"]
    assert "step summary" in comment["body"]
    assert result.summary.count("<details>") == 250


def test_a_refused_body_is_cut_further(repo: Path, runner: Runner, server: BackgroundServer,
                                      github: FakeGitHub) -> None:
    github.limit = 40_000  # GitHub counts differently than we do (say, bytes): the first body is refused
    write_manifests(repo / "training" / "runs" / "many.yaml",
                    *[manifest(f"run-{i:03d}-{'x' * 60}", config=classifier_config(dataset_id="d" * 200))
                      for i in range(250)])
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 0, result.log
    (comment,) = sticky(github, OPENED)
    assert len(comment["body"]) <= 40_000 and "Plan: 250 to create" in comment["body"]


def test_no_changes_updates_the_comment_briefly(repo: Path, runner: Runner, server: BackgroundServer,
                                                github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    runner.run(repo, chariot_inputs(server), OPENED)
    applied = runner.run(repo, chariot_inputs(server, command="apply"), OPENED, event_name="push")
    assert applied.returncode == 0, applied.log
    again = runner.run(repo, chariot_inputs(server), SYNCHRONIZE)
    assert again.outputs["has-changes"] == "false" and again.outputs["exitcode"] == "0"
    (comment,) = sticky(github, SYNCHRONIZE)
    assert "No changes" in comment["body"] and "<details>" not in comment["body"]


def test_apply_mode_applies(repo: Path, runner: Runner, server: BackgroundServer, github: FakeGitHub) -> None:
    from tests.test_cli_end_to_end import live_runs

    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"), manifest("b", project="nlp"))
    result = runner.run(repo, chariot_inputs(server, command="apply"), OPENED, event_name="push")
    assert result.returncode == 0, result.log
    assert sorted(r.name for r in live_runs(server)) == ["a", "b"]
    assert "apply complete" in result.summary and result.outputs["exitcode"] == "0"
    assert github.writes == []  # apply does not comment


def test_errors_fail_the_step_with_annotations(repo: Path, runner: Runner, server: BackgroundServer) -> None:
    (repo / "training" / "runs" / "bad.yaml").write_text(
        "apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: x, version: '1'}\n"
        "spec:\n  blueprint: {name: image-classifier}\n  resources: {cpu: lots, memory: 1Gi}\n")
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 1
    assert result.outputs["exitcode"] == "1"
    assert re.search(r"::error file=[^,]*bad\.yaml,line=6,col=\d+,title=spec\.resources\.cpu::", result.log)
    bad_input = runner.run(repo, chariot_inputs(server, command="destroy"), OPENED)
    assert bad_input.returncode == 1 and "command must be 'plan' or 'apply'" in bad_input.log


def test_refused_chariot_credentials_fail_the_step(repo: Path, runner: Runner, clock) -> None:
    from chariot_apply.emulator.app import AuthConfig, create_app
    from chariot_apply.emulator.store import EmulatorStore

    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    with BackgroundServer(create_app(EmulatorStore(":memory:", clock=clock),
                                     auth=AuthConfig(tokens={"other"}))) as guarded:
        result = runner.run(repo, chariot_inputs(guarded), OPENED)
    assert result.returncode == 1 and "::error::invalid bearer token" in result.log


def test_secrets_are_masked_and_never_shown(repo: Path, runner: Runner, server: BackgroundServer,
                                            github: FakeGitHub) -> None:
    write_manifests(repo / "training" / "runs" / "a.yaml",
                    manifest("llm", blueprint="llm-fine-tune", blueprint_version=None,
                             config={"base_model": "phi-3-mini", "dataset_id": "d", "max_steps": 5,
                                     "hf_token": "hf_TOPSECRET"}))
    result = runner.run(repo, chariot_inputs(server), OPENED)
    assert f"::add-mask::{CHARIOT_TOKEN_VALUE}" in result.log and f"::add-mask::{TOKEN}" in result.log
    shown = result.summary + sticky(github, OPENED)[0]["body"] + Path(result.outputs["plan-json"]).read_text()
    assert "hf_TOPSECRET" not in shown and CHARIOT_TOKEN_VALUE not in shown


def test_comment_command(repo: Path, server: BackgroundServer, github: FakeGitHub, github_server: BackgroundServer,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_helpers import run_cli

    monkeypatch.chdir(repo / "training")
    monkeypatch.setenv("CHARIOT_URL", server.url)
    write_manifests(repo / "training" / "runs" / "a.yaml", manifest("a"))
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(PAYLOADS / "pull_request_payloads" / "opened.with-null-body.json"))
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    for expected in ("created", "unchanged"):
        result = run_cli("github", "comment", "--plan", "plan.json")
        assert result.exit_code == 0 and f"pull request comment: {expected}" in result.stdout


def test_example_workflow_is_a_valid_workflow_shape() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "chariot-apply.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert {"pull_request", "push"} <= set(triggers)
    jobs = workflow["jobs"]
    steps = [s for job in jobs.values() for s in job["steps"]]
    uses = [s for s in steps if "chariot-apply" in str(s.get("uses", ""))]
    assert len(uses) == 2 and all("secrets." in str(s["with"]) for s in uses)
    apply_job = next(job for job in jobs.values()
                     if any(s.get("with", {}).get("command") == "apply" for s in job["steps"]))
    assert apply_job["concurrency"]["cancel-in-progress"] is False  # a newer push waits; two applies never race
