"""Small builders of test data, so that tests state only what they are about."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.retry import RetryPolicy
from chariot_apply.chariot.models import Checkpoint, Model, Resources, Run
from chariot_apply.emulator.server import BackgroundServer

# Outside test data, copied into the repository (tests/data/README.md says from where): a clone needs nothing beside it.
DATA = Path(__file__).resolve().parent / "data"
#: Retries that do not make a test wait.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01)

CLASSIFIER = "image-classifier"


def resources(**overrides: Any) -> Resources:
    return Resources(**({"cpu": "1", "memory": "2Gi"} | overrides))


def classifier_config(**overrides: Any) -> dict[str, Any]:
    return {"epochs": 1, "dataset_id": "ds-1"} | overrides


async def new_run(client: AsyncChariotClient, name: str = "run", *, project: str = "vision",
                  blueprint: str = CLASSIFIER, version_ilike: str | None = None, **overrides: Any) -> str:
    """Create a run of the image classifier (unless told otherwise) and return its id."""
    kwargs: dict[str, Any] = {
        "name": name,
        "version": "1.0.0",
        "resources": resources(),
        "config": classifier_config(),
        "task_type": "Image Classification",
        "blueprint_id": await client.lookup_blueprint_id(blueprint, version_ilike),
        "project_id": await client.get_project_id(project),
        "notes": None,
    }
    kwargs.update(overrides)
    return await client.create_run(**kwargs)


def manifest(name: str = "run-a", version: str = "1.0.0", *, project: str = "vision", blueprint: str = CLASSIFIER,
             blueprint_version: str | None = "2.%", state: str | None = None, config: dict | None = None,
             resources_: dict | None = None, **spec: Any) -> dict[str, Any]:
    """A TrainingRun manifest as a dict (YAML-ready)."""
    body: dict[str, Any] = {
        "blueprint": {"name": blueprint} | ({"version": blueprint_version} if blueprint_version else {}),
        "resources": resources_ or {"cpu": "1", "memory": "2Gi"},
        "config": classifier_config() if config is None else config,
    }
    if state:
        body["state"] = state
    body.update(spec)
    return {"apiVersion": "chariot-apply/v1", "kind": "TrainingRun",
            "metadata": {"name": name, "version": version, "project": project}, "spec": body}


def write_manifests(path, *manifests: dict[str, Any]):
    """Write manifests as one multi-document YAML file and return its path."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(manifests, sort_keys=False), "utf-8")
    return path


def declared_run(doc: dict[str, Any], default_project: str = "vision") -> Any:
    """A manifest dict as the loader would declare it (a ``DeclaredRun``), failing the test if it is invalid."""
    from chariot_apply.manifest.errors import Location
    from chariot_apply.manifest.loader import check_document
    from chariot_apply.manifest.yaml_source import Document

    run, problems = check_document(Document("gen.yaml", 0, doc, Location("gen.yaml", 1, 1)), default_project)
    assert run is not None, problems
    return run


def live_runs(server: BackgroundServer) -> list[Run]:
    async def fetch() -> list[Run]:
        async with AsyncChariotClient(server.url) as client:
            return [r async for r in client.iter_runs()]

    return asyncio.run(fetch())


def create_directly(server: BackgroundServer, name: str, **overrides) -> str:
    async def create() -> str:
        async with AsyncChariotClient(server.url) as client:
            return await new_run(client, name, **overrides)

    return asyncio.run(create())


#: The stand-in of the official SDK (tests/sdk/README.md), importable only where a test puts it on the path.
SDK_STANDIN = Path(__file__).resolve().parent / "sdk"


def use_standin_sdk(request: Any, monkeypatch: Any) -> None:
    """Put the stand-in SDK on ``sys.path`` for one test, and forget it afterwards: a ``chariot`` left imported
    would make ``backend: auto`` choose the SDK in the tests that follow."""
    import sys

    monkeypatch.syspath_prepend(str(SDK_STANDIN))

    def forget() -> None:
        for name in [m for m in sys.modules if m == "chariot" or m.startswith("chariot.")]:
            del sys.modules[name]

    request.addfinalizer(forget)


def kept(variable: str) -> bool:
    """Whether a subprocess keeps ``variable`` of the test's environment: none of chariot-apply's settings, but the
    session's writers' locks (``tests/conftest.py``)."""
    return not variable.startswith("CHARIOT") or variable == "CHARIOT_APPLY_LOCK_DIR"


def cli_env(url: str, owner: str, backend: str = "rest") -> dict[str, str]:
    """The environment of a `chariot-apply` subprocess reaching the emulator at ``url`` over REST, or through the
    SDK (the stand-in, configured by its own settings)."""
    import os

    env = {"PATH": os.environ["PATH"], "CHARIOT_APPLY_OWNER": owner, "NO_COLOR": "1", "CHARIOT_APPLY_BACKEND": backend,
           "CHARIOT_APPLY_LOCK_DIR": os.environ["CHARIOT_APPLY_LOCK_DIR"]}
    if backend == "sdk":
        return env | {"PYTHONPATH": str(SDK_STANDIN), "CHARIOT_SDK_STANDIN_URL": url}
    return env | {"CHARIOT_URL": url}


#: Seconds from a create to job_running on the emulator's default timing; step N is done at START + N.
START = 6


def checkpoints_and_models(server: BackgroundServer) -> tuple[list[Checkpoint], list[Model]]:
    """Every checkpoint and model on the server, read around the client under test."""
    async def read() -> tuple[list[Checkpoint], list[Model]]:
        async with AsyncChariotClient(server.url) as client:
            return await client.get_checkpoints(limit=1000), await client.get_models()
    return asyncio.run(read())
