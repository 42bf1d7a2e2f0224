"""What identifies a declared run and a config: the normalised spec a run's hash is taken over (its marker records
the hash, so that an edit of the manifest is seen), and the key a config is validated under. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chariot_apply.chariot.quantity import parse_quantity
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.live import ValidationKey


def desired_spec(run: DeclaredRun) -> dict[str, Any]:
    """The parts of a manifest that define a run, normalised (quantities by value), for the spec hash."""
    spec = run.spec
    res = spec.resources
    return {
        "blueprint": {"name": spec.blueprint.name, "version": spec.blueprint.version},
        "taskType": spec.task_type,
        "resources": {
            "cpu": str(parse_quantity(res.cpu).value),
            "memory": str(parse_quantity(res.memory).value),
            "ephemeralStorage": str(parse_quantity(res.ephemeral_storage).value) if res.ephemeral_storage else None,
            "gpu": res.gpu.model_dump() if res.gpu else None,
        },
        "config": spec.config,
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def validation_key(blueprint_id: str, config: Mapping[str, Any]) -> ValidationKey:
    """Each (blueprint, config) is validated once in a plan, however many runs declare it."""
    return blueprint_id, canonical_json(config)
