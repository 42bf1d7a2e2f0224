"""One error boundary: every UserError is a message, a hint and exit 1; anything else is shown as a bug.

Each case is a reproduction from the issue that made this boundary, run through the real CLI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from chariot_apply.cli.errors import EXIT_BUG, ChariotApplyGroup
from chariot_apply.emulator.app import AuthConfig, create_app
from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli
from tests.factories import DATA, manifest, write_manifests

OPENED = DATA / "github" / "github_pull_request_opened.json"


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: connections are refused, and no other process can serve on it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


@pytest.fixture
def saved_plan(workdir: Path) -> Path:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    assert run_cli("plan", "--out", "plan.json").exit_code == 0
    return workdir / "plan.json"


def test_github_comment_with_github_unreachable_is_a_clear_error(saved_plan: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 refusing_port: int) -> None:
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(OPENED))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_x")
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{refusing_port}")
    result = run_cli("github", "comment", "--plan", str(saved_plan))
    assert result.exit_code == 1, result.output
    assert "Error[CA5001]: cannot reach GitHub" in result.stderr and "Hint: check GITHUB_API_URL" in result.stderr


@pytest.mark.parametrize("event", ["{not json", "[1, 2]", '{"pull_request": {"number": "seven"}}'])
def test_a_malformed_event_file_is_a_clear_error(saved_plan: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, event: str) -> None:
    path = tmp_path / "event.json"
    path.write_text(event)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_x")
    result = run_cli("github", "comment", "--plan", str(saved_plan))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error[CA5002]: "), result.stderr
    assert "Hint: " in result.stderr


def test_a_bad_plan_file_is_not_blamed_on_chariot_settings(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "bad.json").write_text(json.dumps({"format_version": 1, "plan": {}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(OPENED))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_x")
    result = run_cli("github", "comment", "--plan", "bad.json")
    assert result.exit_code == 1, result.output
    assert "is not a chariot-apply plan" in result.stderr and "CHARIOT_" not in result.stderr


def test_an_invalid_url_is_said_without_pydantic_words(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifests(workdir / "runs" / "a.yaml", manifest("a"))
    monkeypatch.setenv("CHARIOT_URL", "not-a-url")
    result = run_cli("plan")
    assert result.exit_code == 1
    assert "CHARIOT_URL must start with http:// or https://" in result.stderr
    assert "Value error" not in result.output and "validation error" not in result.output.lower()


def test_an_unexpected_exception_is_shown_as_a_bug() -> None:
    """A command that fails in a way nobody planned for: one line that says bug, the traceback in a file."""
    group = ChariotApplyGroup("g")

    @group.command()
    def broken() -> None:
        {}["missing"]

    result = CliRunner().invoke(group, ["broken"])
    assert result.exit_code == EXIT_BUG
    assert "This is a bug in chariot-apply" in result.stderr and "KeyError" in result.stderr
    report = Path(result.stderr.split("traceback saved in ")[1].split()[0])
    assert "Traceback" in report.read_text() and "Traceback" not in result.stderr
    report.unlink()


def test_refused_client_credentials_leave_no_never_awaited_coroutine(tmp_path: Path) -> None:
    """Seen before: `RuntimeWarning: coroutine ... was never awaited` after a refused login (requests that
    were still connecting when the first failure closed the client). -X dev shows every such warning."""
    store = EmulatorStore(":memory:")
    app = create_app(store, auth=AuthConfig(clients={"me": "right"}))
    write_manifests(tmp_path / "runs.yaml", *[manifest(f"r{i}", blueprint=b) for i, b in
                                              enumerate(["image-classifier", "object-detector", "text-classifier"])])
    with BackgroundServer(app) as server:
        env = {"PATH": os.environ["PATH"], "CHARIOT_URL": server.url, "CHARIOT_CLIENT_ID": "me",
               "CHARIOT_CLIENT_SECRET": "wrong", "CHARIOT_APPLY_OWNER": "t"}
        for _ in range(3):
            done = subprocess.run([sys.executable, "-X", "dev", "-m", "chariot_apply.cli.main", "plan", "-f",
                                   "runs.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 1, done.stderr
            assert "invalid client credentials" in done.stderr
            assert "never awaited" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    store.close()
