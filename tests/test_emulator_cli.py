"""`chariot-apply emulator seed|serve`: loading a catalog, and serving over HTTP in its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.errors import AuthenticationError
from chariot_apply.emulator.store import EmulatorStore
from tests.cli_helpers import run_cli


def test_seed_adds_projects_and_blueprints(tmp_path: Path) -> None:
    seed = tmp_path / "catalog.yaml"
    seed.write_text(yaml.safe_dump({
        "projects": [{"name": "robotics"}],
        "blueprints": [{"name": "grasp-policy", "version": "0.1.0", "task_types": ["Reinforcement Learning"],
                        "config_schema": {"type": "object", "required": ["episodes"],
                                          "properties": {"episodes": {"type": "integer", "minimum": 1}}}}]}))
    db = tmp_path / "e.db"
    first = run_cli("emulator", "seed", str(seed), "--db", str(db))
    assert first.exit_code == 0 and "1 project(s), 1 blueprint(s) added" in first.stdout
    again = run_cli("emulator", "seed", str(seed), "--db", str(db))
    assert "0 project(s), 0 blueprint(s) added" in again.stdout
    store = EmulatorStore(db)
    assert store.lookup_blueprint("grasp-policy", "0.%")["task_types"] == ["Reinforcement Learning"]
    assert [p["name"] for p in store.projects("robotics")] == ["robotics"]
    store.close()


@pytest.mark.parametrize("text", ["blueprints: [{name: x}]", "projects: 3", "blueprints: [{name: x, version: '1', "
                                  "config_schema: {type: 12}}]"])
def test_seed_refuses_a_bad_catalog(tmp_path: Path, text: str) -> None:
    seed = tmp_path / "bad.yaml"
    seed.write_text(text)
    result = run_cli("emulator", "seed", str(seed), "--db", str(tmp_path / "e.db"))
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.anyio
async def test_serve_in_its_own_process_demands_the_token(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", "emulator", "serve", "--port",
                                str(port), "--db", str(tmp_path / "served.db"), "--token", "tok"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(url + "/api/training/v2/runs")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert (response.status_code, response.json()) == (401, {"error": "invalid bearer token"})
        async with AsyncChariotClient(url) as anonymous:
            with pytest.raises(AuthenticationError):
                await anonymous.get_runs()
        from pydantic import SecretStr

        from chariot_apply.chariot.auth import StaticToken

        async with AsyncChariotClient(url, credentials=StaticToken(SecretStr("tok"))) as client:
            assert [p.name for p in await client.get_projects()] == ["default", "nlp", "vision"]
    finally:
        process.terminate()
        process.wait(timeout=10)
