"""Projects and blueprints the emulator starts with, or loads from a seed file."""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class ProjectSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    id: str | None = None


class BlueprintSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    id: str | None = None
    task_types: list[str] = Field(default_factory=list)
    description: str | None = None
    config_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    #: A JSON file holding the schema instead, relative to the catalog file (a blueprint's published schema).
    config_schema_file: str | None = None
    deleted: bool = False


class GpuSeed(BaseModel):
    """A GPU type the cluster offers, and how many there are (``get_available_system_gpus``)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1)
    count: int = Field(ge=0)


class DatasetSeed(BaseModel):
    """A dataset snapshot's size: how many steps an epoch over it takes (others have a default size)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    size: int = Field(ge=1)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    projects: list[ProjectSeed] = Field(default_factory=list)
    gpus: list[GpuSeed] = Field(default_factory=list)
    datasets: list[DatasetSeed] = Field(default_factory=list)
    schemas: dict[str, Any] = Field(default_factory=dict)  # anchors for the YAML file; not stored
    blueprints: list[BlueprintSeed] = Field(default_factory=list)


def parse_gpus(text: str) -> list[GpuSeed]:
    """``A100=8,T4=4`` as the cluster's GPU inventory; ValueError says what is wrong."""
    out: list[GpuSeed] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, count = part.partition("=")
        if not sep or not kind.strip() or not count.strip().isdigit():
            raise ValueError(f"{part!r} is not TYPE=COUNT (for example A100=8)")
        out.append(GpuSeed(type=kind.strip(), count=int(count)))
    if len({g.type.upper() for g in out}) != len(out):
        raise ValueError("a GPU type is named twice")
    return out


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The built-in catalog, or the seed file at ``path``; ``config_schema_file`` entries are read in."""
    if path is None:
        folder: Traversable = resources.files("chariot_apply.emulator")
        text = folder.joinpath("catalog.yaml").read_text("utf-8")
    else:
        folder = Path(path).parent
        text = Path(path).read_text("utf-8")
    catalog = Catalog.model_validate(yaml.safe_load(text) or {})
    for blueprint in catalog.blueprints:
        if blueprint.config_schema_file is not None:
            schema = json.loads(folder.joinpath(blueprint.config_schema_file).read_text("utf-8"))
            if not isinstance(schema, dict):
                raise ValueError(f"{blueprint.config_schema_file} does not hold a JSON object")
            blueprint.config_schema, blueprint.config_schema_file = schema, None
    return catalog
