"""What each command loads: start-up time is mostly imports, so the heavy ones stay where they are used.

Each case runs the real CLI in a fresh interpreter (imports are per process) and lists the modules it ended
with; no time is measured.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chariot_apply.emulator.server import BackgroundServer
from chariot_apply.plan.compare import DEEPDIFF_OPTIONALS
from tests.factories import classifier_config, kept, manifest, write_manifests

LIST_MODULES = """
import json, sys
from chariot_apply.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="chariot-apply", standalone_mode=False)
except SystemExit:
    pass
loaded = [name for name, module in sys.modules.items() if module is not None]  # None: an import refused
print(json.dumps(sorted({name.split(".")[0] for name in loaded} | set(loaded))), file=sys.stderr)
"""

WEB_STACK = {"starlette", "uvicorn", "fastapi", "chariot_apply.emulator"}
CLIENT = {"httpx", "httpcore", "anyio"}


def modules_after(*args: str, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    base = {k: v for k, v in os.environ.items() if kept(k)}
    done = subprocess.run([sys.executable, "-c", LIST_MODULES, *args], cwd=cwd, env=base | (env or {}),
                          capture_output=True, text=True, timeout=120)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "chariot-apply.yaml").write_text("owner: team-test\nproject: vision\nmanifests: [runs/]\n")
    write_manifests(tmp_path / "runs" / "runs.yaml", manifest("alpha"), manifest("beta"))
    return tmp_path


def test_help_loads_neither_the_client_nor_yaml_nor_validation(project: Path) -> None:
    loaded = modules_after("--help", cwd=project)
    assert loaded.isdisjoint(CLIENT | WEB_STACK | {"pydantic", "jsonschema", "yaml", "deepdiff"}), loaded


def test_validate_reads_manifests_without_any_http(project: Path) -> None:
    loaded = modules_after("validate", cwd=project)
    assert "yaml" in loaded and "chariot_apply.manifest.loader" in loaded  # it did the work
    assert loaded.isdisjoint(WEB_STACK | {"deepdiff", "jsonschema"}), loaded & (WEB_STACK | {"deepdiff", "jsonschema"})


def test_a_plan_against_a_server_never_loads_the_emulator(project: Path, server: BackgroundServer) -> None:
    loaded = modules_after("plan", cwd=project, env={"CHARIOT_URL": server.url})
    assert "httpx" in loaded and "chariot_apply.plan.diff" in loaded
    assert loaded.isdisjoint(WEB_STACK), loaded & WEB_STACK
    assert "deepdiff" not in loaded  # two creates: no config to compare
    assert "jsonschema" not in loaded  # valid manifests: the model accepted them, the schema was not needed


def test_an_invalid_manifest_brings_the_schema_for_its_explanation(project: Path) -> None:
    write_manifests(project / "runs" / "bad.yaml", manifest("gamma") | {"spec": {"blueprint": 3}})
    assert "jsonschema" in modules_after("validate", cwd=project)


def test_the_embedded_emulator_brings_starlette_not_fastapi(project: Path) -> None:
    loaded = modules_after("plan", cwd=project)
    assert {"starlette", "chariot_apply.emulator"} <= loaded
    assert "fastapi" not in loaded and "uvicorn" not in loaded


def test_a_changed_config_brings_deepdiff_without_the_array_libraries(project: Path) -> None:
    """deepdiff imports numpy (where installed, as with the `plot` extra) unless hidden: configs are JSON."""
    if importlib.util.find_spec("numpy") is None:
        pytest.skip("numpy is not installed here: nothing to hide")
    env = {"CHARIOT_APPLY_OWNER": "team-test"}
    applied = subprocess.run([sys.executable, "-m", "chariot_apply.cli.main", "apply", "--auto-approve"],
                             cwd=project, env=os.environ | env, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    write_manifests(project / "runs" / "runs.yaml", manifest("alpha", config=classifier_config() | {"epochs": 99}),
                    manifest("beta"))
    loaded = modules_after("plan", cwd=project, env=env)
    assert "deepdiff" in loaded  # it compared the changed config
    assert loaded.isdisjoint(DEEPDIFF_OPTIONALS), loaded & set(DEEPDIFF_OPTIONALS)


def test_help_imports_no_command_module(project: Path) -> None:
    loaded = modules_after("--help", cwd=project)
    commands = {m for m in loaded if m.startswith("chariot_apply.cli.")} - {
        "chariot_apply.cli.main", "chariot_apply.cli.common", "chariot_apply.cli.errors"}
    assert commands == set(), commands


def test_a_command_loads_its_own_module_only(project: Path) -> None:
    loaded = modules_after("validate", cwd=project)
    assert "chariot_apply.cli.manifests" in loaded
    assert loaded.isdisjoint({"chariot_apply.cli.plan", "chariot_apply.cli.status", "chariot_apply.cli.adoption"})


def test_every_registered_command_loads_under_its_name() -> None:
    import click

    from chariot_apply.cli.main import COMMANDS, cli

    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name, name


def test_a_plan_loads_neither_the_executor_nor_httpx_command_line(project: Path, server: BackgroundServer) -> None:
    """`plan` shows; only `apply` carries out (its module brings the executor). httpx imports its own command line
    (rich, pygments) where rich is installed: chariot-apply never runs it."""
    loaded = modules_after("plan", cwd=project, env={"CHARIOT_URL": server.url})
    assert "chariot_apply.plan.diff" in loaded  # it planned
    assert loaded.isdisjoint({"chariot_apply.apply.executor", "chariot_apply.cli.apply", "rich", "pygments",
                              "chariot_apply.render.markdown"}), loaded & {"chariot_apply.apply.executor", "rich"}
