"""`chariot-apply emulator seed|serve`: loading a catalog, and serving over HTTP in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.errors import AuthenticationError
from chariot_apply.emulator.process import EmulatorProcess
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
    assert result.exit_code == 1 and result.stderr.startswith("Error[CA4013]: ")


@pytest.mark.anyio
async def test_serve_in_its_own_process_demands_the_token(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / "served.db", "--token", "tok") as server:
        response = httpx.get(server.url + "/api/training/v2/runs")
        assert (response.status_code, response.json()) == (401, {"error": "invalid bearer token"})
        async with AsyncChariotClient(server.url) as anonymous:
            with pytest.raises(AuthenticationError):
                await anonymous.get_runs()
        from pydantic import SecretStr

        from chariot_apply.backends.rest.auth import StaticToken

        async with AsyncChariotClient(server.url, credentials=StaticToken(SecretStr("tok"))) as client:
            assert [p.name for p in await client.get_projects()] == ["default", "nlp", "vision"]


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / "first.db") as first:
        port = first.url.rsplit(":", 1)[1]
        result = run_cli("emulator", "serve", "--port", port, "--db", str(tmp_path / "second.db"))
    assert result.exit_code == 1 and f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_an_interrupted_apply_reports_what_it_did(tmp_path: Path) -> None:
    """SIGINT in the middle of an apply: what finished is reported, the rest is said to be unfinished."""
    import signal

    from tests.factories import manifest, write_manifests

    with EmulatorProcess(tmp_path / "slow.db", "--latency", "1.5") as server:
        url = server.url
        write_manifests(tmp_path / "runs.yaml", *[manifest(f"r{i}") for i in range(3)])
        env = {"PATH": "/usr/bin:/bin", "CHARIOT_URL": url, "CHARIOT_APPLY_OWNER": "int"}
        apply = subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", "apply", "-f", "runs.yaml",
                                  "--auto-approve", "--concurrency", "1"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        seen = ""
        while "create: ok" not in seen:  # wait for the first create to finish, then interrupt
            assert time.monotonic() < deadline and apply.stdout is not None, seen
            seen += apply.stdout.readline()
        apply.send_signal(signal.SIGINT)
        out, err = apply.communicate(timeout=30)
    assert apply.returncode == 130, (seen, out, err)
    assert "Traceback" not in err and "never awaited" not in err
    assert "Apply interrupted: 1 create; 0 failed." in out
    assert "Interrupted:" in err and "run `chariot-apply apply` again" in err


@pytest.mark.parametrize(("answer", "applied"), [("y", True), ("n", False)])
def test_apply_asks_on_a_terminal(tmp_path: Path, answer: str, applied: bool) -> None:
    """On a real terminal (a pseudo-terminal here) apply asks, and does only what it is told."""
    import os
    import pty

    from tests.factories import manifest, write_manifests

    write_manifests(tmp_path / "runs.yaml", manifest("asked"))
    master, slave = pty.openpty()
    env = {"PATH": "/usr/bin:/bin", "CHARIOT_APPLY_OWNER": "tty", "NO_COLOR": "1"}
    process = subprocess.Popen([sys.executable, "-m", "chariot_apply.cli.main", "apply", "-f", "runs.yaml"],
                               cwd=tmp_path, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"Apply these changes?" not in seen:
        assert time.monotonic() < deadline, seen
        seen += os.read(master, 4096)
    os.write(master, f"{answer}\n".encode())
    rest = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        rest += chunk
    assert process.wait(timeout=60) == (0 if applied else 1)
    os.close(master)
    text = rest.decode()
    assert ("asked@1.0.0: create: ok" in text) is applied
    assert ("Nothing applied." in text) is not applied
    listed = subprocess.run([sys.executable, "-m", "chariot_apply.cli.main", "status", "-f", "runs.yaml"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert ("vision/asked@1.0.0" in listed.stdout) is applied


def test_serve_reads_the_time_scale_from_the_environment_as_the_embedded_one_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`CHARIOT_EMULATOR_TIME_SCALE` sped up only the embedded emulator; a served demo could not be sped up."""
    import asyncio

    from tests.factories import classifier_config, new_run

    monkeypatch.setenv("CHARIOT_EMULATOR_TIME_SCALE", "5000")

    async def trained(url: str) -> str | None:
        async with AsyncChariotClient(url) as client:
            run_id = await new_run(client, "fast", config=classifier_config(epochs=50))  # 500 steps: 8 min at 1x
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                (run,) = await client.get_runs(ids=[run_id])
                if run.status == "job_completed":
                    return run.status
                await asyncio.sleep(0.1)
            return run.status

    with EmulatorProcess(tmp_path / "e.db") as server:
        assert asyncio.run(trained(server.url)) == "job_completed"  # minutes at real pace
