"""A runner-like harness for the composite action: its own `run:` steps, run as a GitHub runner would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.github.comments import RECORD_FILE, ReviewRecord, plan_comment_text
from chariot_apply.plan.model import Plan
from tests.factories import kept
from tests.github_fake import FakeGitHub

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
PAYLOADS = Path(__file__).resolve().parent / "data" / "github"
OPENED = PAYLOADS / "github_pull_request_opened.json"
SYNCHRONIZE = PAYLOADS / "pull_request_payloads" / "synchronize.payload.json"
TOKEN = "ghs_writeToken123"
CHARIOT_TOKEN_VALUE = "chariot-secret-token-value"
WORKFLOW = ".github/workflows/chariot-apply.yml"  # plan and apply jobs in one file, as in examples/github


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


class ActionRunner:
    """Runs the composite action's `run` steps as a GitHub runner would: bash, step env with `${{ }}`
    expressions resolved, GITHUB_* variables, files for outputs and the step summary. `actions/upload-artifact`
    uploads to the fake GitHub, in this run, as only this run can; the other `uses` steps (setup-python) and the
    install step are skipped: the test environment has chariot-apply installed."""

    def __init__(self, tmp: Path, github_url: str, github: FakeGitHub | None = None,
                 machine: dict[str, str] | None = None) -> None:
        """``machine``: what differs on this runner's machine from the test's (its writers' locks, say)."""
        self.tmp = tmp
        self.github_url = github_url
        self.github = github
        self.machine = machine or {}
        self.summary = tmp / "step_summary.md"

    def run(self, workspace: Path, inputs: dict[str, str], event: Path, event_name: str = "pull_request",
            workflow: str = WORKFLOW) -> StepRun:
        """One run of the action in ``workflow`` for ``event``, which GitHub (the fake) records as a workflow run."""
        output = self.tmp / f"output-{len(list(self.tmp.glob('output-*')))}.txt"
        output.write_text("")
        env = {k: v for k, v in os.environ.items() if kept(k) and not k.startswith("GITHUB_")}
        payload = json.loads(event.read_text())
        head = payload.get("pull_request", {}).get("head", {}).get("sha") or payload.get("after", "")
        run_id = self.github.record_run(_repository(event), head, workflow, event_name) if self.github else 1
        env |= {"GITHUB_RUN_ID": str(run_id), "GITHUB_WORKFLOW_REF": f"{_repository(event)}/{workflow}@refs/heads/x",
                "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_PATH": str(event),
                "GITHUB_EVENT_NAME": event_name, "GITHUB_REPOSITORY": _repository(event),
                "GITHUB_API_URL": self.github_url, "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.summary), "RUNNER_TEMP": str(self.tmp),
                "GITHUB_ACTION_PATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
        if head and event_name != "pull_request":
            env["GITHUB_SHA"] = head  # as GitHub sets it: the commit the run is for
        env |= self.machine
        defaults = {name: self._expand(str(spec.get("default", "")), {}) for name, spec in ACTION["inputs"].items()}
        values = defaults | inputs
        log = []
        returncode = 0
        try:
            for step in ACTION["runs"]["steps"]:
                if returncode and "always()" not in str(step.get("if", "")):
                    continue  # a failed step skips the rest, but for `if: always()`
                if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                    self._upload(step, values, parse_outputs(output.read_text()), run_id)
                    continue
                if "run" not in step or step.get("id") == "install":
                    continue
                step_env = env | {k: self._expand(str(v), values) for k, v in step.get("env", {}).items()}
                cwd = workspace / self._expand(step.get("working-directory", "."), values)
                done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=step_env, capture_output=True,
                                      text=True, timeout=300)
                log.append(done.stdout + done.stderr)
                returncode = returncode or done.returncode
        finally:
            if self.github:
                self.github.finish_run(run_id, "success" if returncode == 0 else "failure")
        return StepRun(returncode, "".join(log), parse_outputs(output.read_text()),
                       self.summary.read_text() if self.summary.exists() else "")

    def _upload(self, step: dict, values: dict[str, str], outputs: dict[str, str], run_id: int) -> None:
        """``actions/upload-artifact``: its ``if`` (``always() && steps.run.outputs.X != ''``) and ``with``."""
        condition = str(step.get("if", ""))
        wanted = re.findall(r"steps\.run\.outputs\.([\w-]+) != ''", condition)
        if self.github is None or not all(outputs.get(name) for name in wanted):
            return
        given = {k: self._expand(str(v), values, outputs) for k, v in step.get("with", {}).items()}
        path = Path(given["path"])
        self.github.upload_artifact(run_id, given["name"], {path.name: path.read_bytes()})

    @staticmethod
    def _expand(text: str, values: dict[str, str], outputs: dict[str, str] | None = None) -> str:
        def resolve(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression == "github.token":
                return TOKEN
            if expression.startswith("steps.run.outputs."):
                return (outputs or {}).get(expression.removeprefix("steps.run.outputs."), "")
            return values[expression.removeprefix("inputs.")]

        return re.sub(r"\$\{\{(.*?)\}\}", resolve, text)


def chariot_inputs(server: BackgroundServer, **extra: str) -> dict[str, str]:
    return {"chariot-url": server.url, "token": CHARIOT_TOKEN_VALUE, "working-directory": "training"} | extra


def merged(tmp: Path, github: FakeGitHub, event: Path, merge_sha: str = "f" * 40) -> Path:
    """The push event that merging the pull request of ``event`` makes on the default branch (GitHub's
    "pull requests of a commit" then answers with that pull request)."""
    payload = json.loads(event.read_text())
    pull = payload["pull_request"]
    github.merge(_repository(event), pull["number"], pull["head"]["sha"], merge_sha)
    push = tmp / f"push-{merge_sha[:8]}.json"
    push.write_text(json.dumps({"ref": "refs/heads/main", "after": merge_sha, "repository": payload["repository"]}))
    return push


def sticky(github: FakeGitHub, event: Path) -> list[dict]:
    return [c for c in github.thread(_repository(event), _pr_number(event)) if "chariot-apply:plan:" in c["body"]]


def pull_request_event(tmp: Path, number: int, head_sha: str) -> Path:
    """A ``pull_request`` payload (the real one, ``opened``) for pull request ``number`` at ``head_sha``."""
    payload = json.loads(OPENED.read_text())
    payload["number"] = number
    payload["pull_request"] = payload["pull_request"] | {"number": number, "head": payload["pull_request"]["head"]
                                                         | {"sha": head_sha}}
    event = tmp / f"pull-{number}-{head_sha[:8]}.json"
    event.write_text(json.dumps(payload))
    return event


def branch_event(tmp: Path, github: FakeGitHub, sha: str, name: str = "schedule") -> Path:
    """A push to the default branch that no pull request made, or a scheduled run at its head ``sha``."""
    repository = json.loads(OPENED.read_text())["repository"]
    commits = github.history.setdefault(repository["full_name"], [])
    if sha not in commits:
        commits.append(sha)
    event = tmp / f"{name}-{sha[:8]}.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "after": sha, "repository": repository}))
    return event


def kept_plan(github: FakeGitHub, comment: dict) -> Plan:
    """The plan the comment's run kept in its artifact: public to anyone who can read the repository."""
    import io
    import zipfile

    record = ReviewRecord.read(comment["body"])
    assert record is not None
    (artifact,) = [a for a in github.artifacts.values() if a["run"] == record.provenance.run_id]
    with zipfile.ZipFile(io.BytesIO(artifact["zip"])) as archive:
        parsed = ReviewRecord.from_artifact(archive.read(RECORD_FILE).decode())
    assert parsed is not None
    reviewed = parsed[1].reviewed_plan()
    assert reviewed is not None
    return reviewed


def forge_comment(comment: dict, github: FakeGitHub, plan: Plan | None = None, **provenance: object) -> str:
    """The comment rewritten consistently (record and visible text agree) with another provenance, or another
    plan: what any workflow of the repository can post as the bot."""
    marker, _ = comment["body"].split("\n", 1)
    record = ReviewRecord.read(comment["body"])
    assert record is not None
    return plan_comment_text(marker, plan or kept_plan(github, comment), replace(record.provenance, **provenance),
                             record.limit)
