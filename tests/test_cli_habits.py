"""Habits people bring from Terraform and kubectl, each a reproduction run through the real CLI."""

from __future__ import annotations

import inspect
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import jsonschema
import pytest
import yaml

from chariot_apply.cli.main import COMMANDS, cli
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.render.status import status_json_schema
from tests.cli_helpers import run_cli
from tests.factories import manifest, write_manifests

ROOT = Path(__file__).resolve().parents[1]


def test_global_options_work_after_the_command(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("plan", "--no-color").exit_code == 0
    applied = run_cli("apply", "--auto-approve", "--owner", "after-the-command")
    assert applied.exit_code == 0, applied.output
    other = workdir / "other.yaml"
    other.write_text("owner: after-the-command\nproject: vision\nmanifests: [runs/]\n")
    status = run_cli("status", "--config", str(other), "--format", "json")
    assert status.exit_code == 0, status.output
    assert [r["address"] for r in json.loads(status.stdout)["runs"]] == ["vision/a@1.0.0"]
    # The command's own value wins over the group's.
    both = run_cli("--owner", "nobody", "status", "--owner", "after-the-command", "--format", "json")
    assert len(json.loads(both.stdout)["runs"]) == 1


def test_a_saved_plan_is_applied_without_asking_again(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    applied = run_cli("apply", "plan.json")  # no terminal, no --auto-approve: the plan was approved when saved
    assert applied.exit_code == 0, applied.output
    assert "Apply complete: 1 create; 0 failed." in applied.stdout
    unsaved = run_cli("apply")  # an unsaved plan still needs an approval
    assert unsaved.exit_code == 0 and "No changes" in unsaved.stdout


@pytest.mark.parametrize("given", ["runs", "runs/a.yaml"])
def test_manifests_where_the_plan_file_goes_get_a_hint(workdir: Path, given: str) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    result = run_cli("apply", given)
    assert result.exit_code == 1, result.output
    assert "not a saved plan" in result.stderr and f"chariot-apply apply -f {given}" in result.stderr
    assert "validation error" not in result.output.lower()


def test_saved_plans_are_private_from_the_first_byte(workdir: Path) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    (workdir / "plan.json").write_text("old")
    (workdir / "plan.json").chmod(0o644)
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    assert (workdir / "plan.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((workdir / "plan.json").read_text())["redacted"] is False


def test_manifests_from_standard_input(workdir: Path) -> None:
    text = yaml.safe_dump_all([manifest("from-stdin"), manifest("also")], sort_keys=False)
    result = run_cli("plan", "-f", "-", input=text)
    assert result.exit_code == 0, result.output
    assert '+ run "vision/from-stdin@1.0.0"' in result.stdout and "Plan: 2 to create" in result.stdout
    broken = run_cli("validate", "-f", "-", input="apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {}\n")
    assert broken.exit_code == 1 and "<stdin>:3:" in broken.stderr


def test_status_as_json_follows_its_schema(workdir: Path, server: BackgroundServer) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"), manifest("b"))
    assert run_cli("apply", "--auto-approve").exit_code == 0
    result = run_cli("status", "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    schema = json.loads((ROOT / "schemas" / "status.schema.json").read_text())
    assert schema == status_json_schema()
    jsonschema.validate(document, schema)
    assert [(r["address"], r["status"]) for r in document["runs"]] == [
        ("vision/a@1.0.0", "run_created"), ("vision/b@1.0.0", "run_created")]
    text = run_cli("status")
    assert "vision/a@1.0.0" in text.stdout and "run_created" in text.stdout


def test_the_embedded_emulator_lives_beside_the_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHARIOT_URL", "CHARIOT_TOKEN", "CHARIOT_APPLY_OWNER", "CHARIOT_APPLY_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "chariot-apply.yaml").write_text("owner: team\nproject: vision\nmanifests: [runs/]\n")
    write_manifests(tmp_path / "runs" / "a.yaml", manifest("a"))
    monkeypatch.chdir(tmp_path)
    assert run_cli("apply", "--auto-approve").exit_code == 0
    monkeypatch.chdir(tmp_path / "runs")  # a subdirectory of the same project sees the same runs
    again = run_cli("plan", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes" in again.stdout, again.output
    assert (tmp_path / ".chariot-apply" / "emulator.db").is_file()
    assert not (tmp_path / "runs" / ".chariot-apply").exists()


def test_adopt_keeps_the_project_files_comments(workdir: Path, server: BackgroundServer) -> None:
    from tests.factories import create_directly

    project_file = workdir / "chariot-apply.yaml"
    project_file.write_text("# Who we are.\nowner: team-test  # the marker's owner\nproject: vision\n"
                            "manifests: [runs/]\nadopted:\n  - already-there  # by hand\n")
    theirs = create_directly(server, "a")
    assert run_cli("adopt", "vision/a@1.0.0").exit_code == 0
    text = project_file.read_text()
    assert text.startswith("# Who we are.\nowner: team-test  # the marker's owner\n")
    assert "  - already-there  # by hand\n" in text
    assert yaml.safe_load(text)["adopted"] == ["already-there", theirs]
    assert run_cli("adopt", "vision/a@1.0.0").exit_code == 0 and project_file.read_text() == text  # idempotent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts(shell: str) -> None:
    result = run_cli("completion", shell)
    assert result.exit_code == 0 and "_CHARIOT_APPLY_COMPLETE" in result.stdout
    if shell == "bash":
        completed = subprocess.run(["bash", "-n"], input=result.stdout, capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr
    assert run_cli("completion", "tcsh").exit_code == 2


def test_completion_answers_for_commands() -> None:
    env = {**os.environ, "_CHARIOT_APPLY_COMPLETE": "bash_complete", "COMP_WORDS": "chariot-apply pl",
           "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "chariot_apply.cli.main"], env=env, capture_output=True, text=True)
    assert "plain,plan" in done.stdout, done.stdout + done.stderr


def test_the_pre_commit_hook_runs_as_pre_commit_would(tmp_path: Path) -> None:
    """pre-commit runs `entry` + `args` + the staged files matching `types` and not `exclude`, in one process."""
    import re

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["types"] == ["yaml"] and hook["require_serial"] is True
    (tmp_path / "chariot-apply.yaml").write_text("owner: team\nproject: vision\n")
    write_manifests(tmp_path / "training" / "good.yaml", manifest("good"))
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")  # not ours: skipped
    staged = ["chariot-apply.yaml", "training/good.yaml", ".github/workflows/ci.yml"]
    files = [f for f in staged if not re.search(hook["exclude"], f)]
    assert "chariot-apply.yaml" not in files
    chariot_apply = str(Path(sys.executable).parent / "chariot-apply")
    command = [chariot_apply, *shlex.split(hook["entry"])[1:], *hook.get("args", [])]
    good = subprocess.run([*command, *files], cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "1 manifest(s) valid." in good.stdout
    bad = tmp_path / "training" / "bad.yaml"
    bad.write_text("apiVersion: chariot-apply/v1\nkind: TrainingRun\nmetadata: {name: b, version: '1'}\n"
                   "spec:\n  blueprint: {name: x}\n  resources: {cpu: lots, memory: 1Gi}\n  config: {}\n")
    failed = subprocess.run([*command, *files, "training/bad.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "training/bad.yaml:6:" in failed.stderr and "spec.resources.cpu" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_with_no_owner_anywhere_the_default_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHARIOT_URL", "CHARIOT_APPLY_OWNER", "CHARIOT_APPLY_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_manifests(tmp_path / "a.yaml", manifest("a"))
    result = run_cli("plan", "-f", "a.yaml")
    assert result.exit_code == 0, result.output
    assert "no owner set" in result.stderr and "owned by 'default'" in result.stderr
    quiet = run_cli("plan", "-f", "a.yaml", "--owner", "me")
    assert "no owner set" not in quiet.stderr


def test_the_examples_are_valid_manifests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first command applies them: they must stay valid (and alone in examples/runs/)."""
    monkeypatch.chdir(ROOT)
    result = run_cli("validate", "-f", "examples/runs/", "--owner", "examples")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_that_lists_a_command_is_the_commands_own(name: str) -> None:
    """``chariot-apply --help`` lists each command from the lazy registry without importing it; the line must be
    the first paragraph of the command's own ``--help``, word for word (14 of 17 had drifted)."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.help is not None
    first = " ".join(inspect.cleandoc(command.help).split("\n\n")[0].split())
    assert first == COMMANDS[name][1]
    assert COMMANDS[name][1] in " ".join(run_cli("--help").stdout.split())
