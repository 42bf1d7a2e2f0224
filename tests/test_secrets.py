"""Secrets never leave: values planted under secret-looking and `sensitive` keys, in configs the blueprint
refuses (so that the server's messages quote them), and a password in CHARIOT_URL, appear in no output."""

from __future__ import annotations

from pathlib import Path

import pytest

from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.plan.sensitive import scrub
from tests.action_harness import OPENED, chariot_inputs, sticky
from tests.action_harness import ActionRunner as Runner
from tests.cli_helpers import run_cli
from tests.factories import manifest, write_manifests
from tests.github_fake import FakeGitHub

PLANTED = ("98765432101", "planted-arch-value", "424242424242")


def _planted_manifests(path: Path) -> None:
    write_manifests(
        path,
        # A secret-looking key the schema refuses by type: "98765432101 is not of type 'string'".
        manifest("llm", blueprint="llm-fine-tune", blueprint_version=None, project="nlp",
                 config={"base_model": "mistral-7b", "dataset_id": "d", "max_steps": 10,
                         "hf_token": int(PLANTED[0])}),
        # Keys listed as sensitive: "'planted-arch-value' is not one of [...]", "424242424242 is not ..."
        manifest("cls", config={"dataset_id": int(PLANTED[2]), "epochs": 1, "architecture": PLANTED[1]},
                 sensitive=["architecture", "dataset_id"]),
    )


def _clean(text: str) -> None:
    for value in PLANTED:
        assert value not in text, f"{value} leaked: ...{text[max(0, text.find(value) - 200):text.find(value) + 50]}"


def test_no_planted_secret_in_any_cli_output(workdir: Path) -> None:
    _planted_manifests(workdir / "runs" / "a.yaml")
    outputs = [run_cli("plan", *args) for args in ([], ["--format", "json"], ["--format", "markdown"])]
    outputs += [run_cli("validate", "--online"), run_cli("apply", "--auto-approve")]
    for result in outputs:
        assert result.exit_code == 1, result.output
        _clean(result.output)
    text = outputs[0].stdout
    assert "spec.config.hf_token" in text and "(sensitive) is not of type 'string'" in text  # key and rule stay
    assert "spec.config.architecture" in text and "is not one of" in text


def test_no_planted_secret_in_the_actions_outputs(repo: Path, tmp_path: Path, server: BackgroundServer) -> None:
    github = FakeGitHub()
    with BackgroundServer(github.app()) as github_server:
        temp = tmp_path / "runner-temp"
        temp.mkdir()
        runner = Runner(temp, github_server.url)
        _planted_manifests(repo / "training" / "runs" / "a.yaml")
        result = runner.run(repo, chariot_inputs(server), OPENED)
    assert result.returncode == 1
    _clean(result.log)
    _clean(result.summary)
    _clean("\n".join(result.outputs.values()))
    plan_json = result.outputs.get("plan-json")
    if plan_json:
        _clean(Path(plan_json).read_text())
    for comment in sticky(github, OPENED):
        _clean(comment["body"])
    assert "::error" in result.log and "hf_token" in result.log


@pytest.mark.parametrize(("message", "expected"), [
    ("'hunter2' is too long", "(sensitive) is too long"),
    ('"hunter2" is not valid', "(sensitive) is not valid"),
    ("{'password': 'hunter2', 'user': 'me'} has extra keys", "{'password': (sensitive), 'user': 'me'} has extra keys"),
    ("123456 is not of type 'string'", "(sensitive) is not of type 'string'"),
])
def test_scrub_covers_each_spelling(message: str, expected: str) -> None:
    config = {"creds": {"password": "hunter2", "user": "me"}, "pin": 123456}
    assert scrub(message, config, ("pin",)) == expected
