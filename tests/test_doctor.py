"""``chariot-apply doctor`` on first contact: all green against the emulator (on both backends); against a
gateway that answers one route with a plain-text 404, against refused credentials and against nothing listening,
each failure is named (request, answer, what to do), exit 1, no traceback; and it never writes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chariot_apply.chariot import rest_api as rest
from chariot_apply.emulator.app import AuthConfig
from chariot_apply.emulator.server import BackgroundServer
from tests.cli_helpers import run_cli
from tests.factories import create_directly, live_runs, manifest, use_standin_sdk, write_manifests


def checks(stdout: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(stdout)["checks"]}


@pytest.fixture
def declared(workdir: Path) -> Path:
    return write_manifests(workdir / "runs" / "runs.yaml", manifest("alpha", taskType="Image Classification"))


@pytest.mark.parametrize("backend", ["rest", "sdk"])
def test_all_green_against_the_emulator_and_nothing_written(
        backend: str, declared: Path, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    create_directly(server, "existing")  # events, metrics and checkpoints have a run to be read from
    if backend == "sdk":
        use_standin_sdk(request, monkeypatch)
        monkeypatch.delenv("CHARIOT_URL")
        monkeypatch.setenv("CHARIOT_SDK_STANDIN_URL", server.url)
    before = [r.id for r in live_runs(server)]
    result = run_cli("--backend", backend, "doctor", "--format", "json")
    assert result.exit_code == 0, result.output
    found = checks(result.stdout)
    assert {c["outcome"] for c in found.values()} == {"ok"}, found
    assert len(found) == 10 + (backend == "sdk")  # the SDK's documented names, first
    assert [r.id for r in live_runs(server)] == before  # read-only


class PlainNotFound:
    """The emulator behind a gateway that has no route for run events: a plain-text ``404 page not found``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/events"):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"404 page not found"})
            return
        await self.app(scope, receive, send)


@pytest.fixture
def gateway(app: Any) -> Iterator[BackgroundServer]:
    with BackgroundServer(PlainNotFound(app)) as running:
        yield running


def test_a_route_the_gateway_lacks_is_named_with_the_line_to_correct(
        declared: Path, gateway: BackgroundServer, server: BackgroundServer, monkeypatch: pytest.MonkeyPatch) -> None:
    create_directly(server, "existing")
    monkeypatch.setenv("CHARIOT_URL", gateway.url)
    result = run_cli("doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = next(n for n, text in enumerate((Path(rest.__file__)).read_text().splitlines(), 1)
                if text.startswith("def run_path"))
    assert "FAIL  events of a run" in result.stdout
    assert "request: GET /api/training/v2/runs/{run_id}/events" in result.stdout
    assert "answer: HTTP 404 Not Found: 404 page not found" in result.stdout
    assert f"chariot_apply/chariot/rest_api.py line {line} (run_path)" in result.stdout
    assert "ok    metrics of a run" in result.stdout  # one wrong route, one failure


def test_refused_credentials_are_named(declared: Path, server: BackgroundServer, auth: AuthConfig,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    auth.tokens.add("right")
    monkeypatch.setenv("CHARIOT_TOKEN", "wrong")
    result = run_cli("doctor", "--format", "json")
    assert result.exit_code == 1
    first = checks(result.stdout)["server answers and credentials are accepted"]
    assert first["outcome"] == "failed" and first["answer"].startswith("HTTP 401")
    assert first["request"] == "GET /api/identity/v2/projects" and first["request_id"]
    assert "CHARIOT_TOKEN" in first["hint"]
    assert {c["outcome"] for n, c in checks(result.stdout).items() if n != first["name"]} == {"skipped"}


def test_nothing_listening_is_named(declared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:  # bound, not listening: refused
        held.bind(("127.0.0.1", 0))
        monkeypatch.setenv("CHARIOT_URL", f"http://127.0.0.1:{held.getsockname()[1]}")
        result = run_cli("doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "FAIL  server answers and credentials are accepted: could not reach Chariot" in result.stdout
    assert "what to do: check CHARIOT_URL" in result.stdout
    assert "skip  project exists: the server was not reached" in result.stdout
