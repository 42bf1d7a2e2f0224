"""Small builders of test data, so that tests state only what they are about."""

from __future__ import annotations

from typing import Any

from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.models import Resources

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
