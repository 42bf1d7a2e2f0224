"""What the fetch phase learned from Chariot: the input of the pure diff, next to the manifests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chariot_apply.chariot.errors import ConfigError
from chariot_apply.chariot.models import Blueprint, Run

BlueprintKey = tuple[str, str | None]  # (name, version pattern)
ValidationKey = tuple[str, str]  # (blueprint id, canonical config JSON)


@dataclass(frozen=True)
class ResolvedBlueprint:
    id: str
    name: str
    version: str
    task_types: tuple[str, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, blueprint: Blueprint) -> ResolvedBlueprint:
        return cls(blueprint.id, blueprint.name, blueprint.version, tuple(blueprint.task_types),
                   blueprint.config_schema)


@dataclass(frozen=True)
class LiveState:
    project_ids: Mapping[str, str]  # project name or id -> id
    project_names: Mapping[str, str]  # id -> name
    blueprints: Mapping[BlueprintKey, ResolvedBlueprint | str]  # str: why it did not resolve
    blueprints_by_id: Mapping[str, ResolvedBlueprint]
    runs: tuple[Run, ...]
    complete_projects: frozenset[str] = frozenset()  # project ids whose runs were all listed
    adopted: frozenset[str] = frozenset()


Validation = Mapping[ValidationKey, tuple[ConfigError, ...]]
