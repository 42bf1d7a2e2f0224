"""No secret in any output (issue 19): values planted under secret-looking keys, in `sensitive` fields, in a
blueprint's write-only field, in variables, in CHARIOT_URL credentials and in the server's own error messages,
then every command and every Action mode run, and every byte written searched: stdout, stderr, every file in
the checkout and the runner's temp, and every body the GitHub stand-in received."""

from __future__ import annotations

from pathlib import Path

import pytest

from chariot_apply.emulator.catalog import BlueprintSeed, Catalog
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.action_harness import OPENED, chariot_inputs, merged
from tests.action_harness import ActionRunner as Runner
from tests.cli_helpers import run_cli
from tests.factories import create_directly, manifest, write_manifests
from tests.github_fake import FakeGitHub

HF = "planted-hf-7731"  # under a secret-looking key
MARKED = "planted-marked-5529"  # under a key the manifest lists in `sensitive`
WRITE_ONLY = "planted-writeonly-8814"  # under a key the blueprint's schema marks writeOnly
FROM_VAR = "planted-var-3306"  # a secret-looking variable's value
URL_PASSWORD = "planted-urlpw-4417"  # inside CHARIOT_URL
THEIRS = "planted-theirs-9902"  # another tool's run's secret, on the server
REFUSED = "planted-refused-6620"  # a value the schema refuses, so the server's message quotes it
PLANTED = (HF, MARKED, WRITE_ONLY, FROM_VAR, URL_PASSWORD, THEIRS, REFUSED)

SECRETIVE = {"type": "object", "additionalProperties": False, "required": ["dataset_id"],
             "properties": {"dataset_id": {"type": "string"}, "mode": {"enum": ["fast", "slow"]},
                            "hub_access": {"type": "string", "writeOnly": True, "format": "password"},
                            "label": {"type": "string"}}}


@pytest.fixture
def planted(store: EmulatorStore, workdir: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    store.seed(Catalog(blueprints=[BlueprintSeed(name="secretive", version="1.0.0", task_types=["Other"],
                                                 config_schema=SECRETIVE)]))
    monkeypatch.setenv("SERVICE_TOKEN", FROM_VAR)
    runs = workdir / "runs" / "secrets.yaml"
    write_manifests(
        runs,
        manifest("llm", blueprint="llm-fine-tune", blueprint_version=None, project="nlp",
                 config={"base_model": "mistral-7b", "dataset_id": "d", "max_steps": 10, "hf_token": HF}),
        manifest("cls", config={"dataset_id": MARKED, "epochs": 1}, sensitive=["dataset_id"]),
        manifest("hub", blueprint="secretive", blueprint_version=None, taskType="Other",
                 config={"dataset_id": "d", "hub_access": WRITE_ONLY, "label": "${SERVICE_TOKEN}"}),
    )
    create_directly(server, "theirs", blueprint="secretive", task_type="Other",
                    config={"dataset_id": "x", "hub_access": THEIRS, "mode": "fast"})
    return runs


def _refused(workdir: Path) -> None:
    """A second file whose config the schema refuses with a message quoting the (sensitive) value."""
    write_manifests(workdir / "runs" / "refused.yaml",
                    manifest("bad", config={"dataset_id": "d", "epochs": 1, "architecture": REFUSED},
                             sensitive=["architecture"]))


def _clean(where: str, text: str) -> None:
    """No planted value in ``text``; ``::add-mask::`` lines are the runner's own (it hides them, and masks the
    value everywhere after)."""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
    for value in PLANTED:
        assert value not in text, f"{value} leaked in {where}: ...{text[max(0, text.find(value) - 150):][:220]}"


def _files_clean(*roots: Path, written_by_the_user: frozenset[str]) -> None:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.suffix != ".db" and "-wal" not in path.name and "-shm" not in path.name:
                if path.name in written_by_the_user:
                    continue  # the manifests themselves: where the user wrote the values
                _clean(str(path), path.read_text(errors="replace"))


def test_every_cli_command_keeps_every_secret(planted: Path, workdir: Path) -> None:
    # `plan` first: it writes the lock file, which is how `render`, offline, knows the write-only fields.
    commands = [["validate"], ["plan"], ["render"], ["render", "--origins"], ["plan", "--format", "json"],
                ["plan", "--format", "markdown"], ["plan", "--out", "saved-plan.json"], ["apply", "--auto-approve"],
                ["status"], ["status", "--format", "json"], ["events", "vision/cls@1.0.0"],
                ["metrics", "vision/cls@1.0.0", "--format", "json"], ["export", "--project", "vision"],
                ["export", "--project", "vision", "-o", "exported"],
                ["import", "--project", "vision", "-o", "runs/imported"], ["plan"]]
    for command in commands:
        result = run_cli(*command)
        assert "Traceback" not in result.output, (command, result.output)
        if command[0] in ("apply", "status", "export"):
            assert result.exit_code == 0, (command, result.output)
        _clean(" ".join(command), result.output)
    _refused(workdir)
    for command in (["plan"], ["validate", "--online"], ["apply", "--auto-approve"], ["plan", "--format", "json"]):
        result = run_cli(*command)
        assert result.exit_code == 1, (command, result.output)
        _clean(" ".join(command), result.output)
    # The saved plan is the one file that must hold the values: `apply saved-plan.json` sends them. It is the
    # owner's alone (0600), as Terraform's planfile is; its redacted form is `plan --format json`.
    assert (workdir / "saved-plan.json").stat().st_mode & 0o777 == 0o600
    _files_clean(workdir, written_by_the_user=frozenset({"secrets.yaml", "refused.yaml", "saved-plan.json"}))


def test_credentials_in_chariot_url_are_never_echoed(planted: Path, server: BackgroundServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARIOT_URL", server.url.replace("://", f"://me:{URL_PASSWORD}@"))
    for command in (["plan"], ["status"], ["doctor"], ["doctor", "--format", "json"]):
        result = run_cli(*command)
        assert result.exit_code == 1 and "Traceback" not in result.output, (command, result.output)
        _clean(" ".join(command), result.output)


def test_every_action_mode_keeps_every_secret(store: EmulatorStore, repo: Path, runner: Runner,
                                              server: BackgroundServer, github: FakeGitHub,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store.seed(Catalog(blueprints=[BlueprintSeed(name="secretive", version="1.0.0", task_types=["Other"],
                                                 config_schema=SECRETIVE)]))
    write_manifests(repo / "training" / "runs" / "a.yaml",
                    manifest("llm", blueprint="llm-fine-tune", blueprint_version=None, project="nlp",
                             config={"base_model": "mistral-7b", "dataset_id": "d", "max_steps": 10,
                                     "hf_token": HF}),
                    manifest("hub", blueprint="secretive", blueprint_version=None, taskType="Other",
                             config={"dataset_id": "d", "hub_access": WRITE_ONLY}))
    runs = [runner.run(repo, chariot_inputs(server), OPENED),
            runner.run(repo, chariot_inputs(server, command="apply"), merged(runner.tmp, github, OPENED),
                       event_name="push"),
            runner.run(repo, chariot_inputs(server, command="drift"), OPENED, event_name="schedule"),
            runner.run(repo, chariot_inputs(server, **{"chariot-url": f"ftp://me:{URL_PASSWORD}@host"}), OPENED)]
    write_manifests(repo / "training" / "runs" / "b.yaml",
                    manifest("bad", config={"dataset_id": "d", "epochs": 1, "architecture": REFUSED},
                             sensitive=["architecture"]))
    runs.append(runner.run(repo, chariot_inputs(server), OPENED))
    assert runs[1].returncode == 0, runs[1].log
    for number, done in enumerate(runs):
        _clean(f"action run {number} log", done.log)
        _clean(f"action run {number} summary", done.summary)
        _clean(f"action run {number} outputs", "\n".join(done.outputs.values()))
    for comment in github.comments.values():
        _clean("a pull request comment", comment["body"])
    for issue in github.issues.values():
        _clean("the drift issue", issue["body"])
    _files_clean(repo, runner.tmp, written_by_the_user=frozenset({"a.yaml", "b.yaml"}))


def test_what_the_server_says_back_passes_the_redaction(planted: Path, store: EmulatorStore) -> None:
    """A blueprint that names a metric after a config value, or quotes one in an event: the tag and the detail
    carry a secret the manifest declared, and status, metrics, events and report scrub them (issue 35)."""
    import json as json_
    import time

    assert run_cli("apply", "--auto-approve").exit_code == 0
    runs = {row["name"]: row["id"] for row in store._db.execute("SELECT id, name FROM runs")}
    now = time.time()
    with store._db:
        store._db.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?)", [
            (f"m-{name}", run_id, 1, f"cfg{secret}/val/accuracy", 0.5, now, None)
            for name, run_id, secret in (("cls", runs["cls"], MARKED), ("llm", runs["llm"], HF))])
        store._db.execute("INSERT INTO events VALUES (?,?,?,?,?,?)", (
            "e-cls", runs["cls"], 999, now, "job_running", json_.dumps({"message": f"loading {MARKED}"})))
    for command in (["status"], ["status", "--format", "json"], ["metrics", "vision/cls@1.0.0"],
                    ["metrics", "vision/cls@1.0.0", "--format", "json"], ["metrics", "nlp/llm@1.0.0"],
                    ["events", "vision/cls@1.0.0"], ["report"], ["report", "--format", "json"]):
        result = run_cli(*command)
        assert result.exit_code == 0, (command, result.output)
        _clean(" ".join(command), result.output)
    shown = run_cli("metrics", "vision/cls@1.0.0", "--format", "json").stdout
    assert "cfg(sensitive)/val/accuracy" in shown  # scrubbed, not dropped


def test_a_secret_variable_outside_config_is_refused_at_its_line(planted: Path, workdir: Path) -> None:
    """Notes are stored and shown in clear by Chariot: a secret-looking variable there is an error, located."""
    write_manifests(workdir / "runs" / "noted.yaml", manifest("noted", notes="token: ${SERVICE_TOKEN}"))
    for command in (["plan"], ["plan", "--format", "json"], ["validate"]):
        result = run_cli(*command)
        assert result.exit_code == 1 and "runs/noted.yaml:" in result.output, (command, result.output)
        assert "SERVICE_TOKEN" in result.output and "spec.notes" in result.output
        _clean(" ".join(command), result.output)
