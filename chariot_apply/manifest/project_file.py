"""``chariot-apply.yaml``, the project file at the repository root: who owns the runs, where they are declared.

Precedence, lowest first: the file, then ``CHARIOT_APPLY_*`` environment variables, then command-line flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chariot_apply.manifest.errors import Location, ManifestError, ManifestProblem
from chariot_apply.manifest.yaml_source import format_path, parse_documents

PROJECT_FILE = "chariot-apply.yaml"
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
DEFAULT_OWNER = "default"


class ServerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = None


class ProjectFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = DEFAULT_OWNER
    project: str = "default"
    server: ServerSection = ServerSection()
    manifests: tuple[str, ...] = ()
    adopted: tuple[str, ...] = Field(default=(), description="ids of runs adopted with `chariot-apply adopt`")

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, value: str) -> str:
        if not OWNER_PATTERN.fullmatch(value):
            raise ValueError("owner must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value


def find_project_file(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def load_project_file(path: Path | None, env: Mapping[str, str] | None = None) -> tuple[ProjectFile, Path | None]:
    """The project file at ``path`` (or none), with environment overrides applied."""
    env = os.environ if env is None else env
    data: dict = {}
    if path is not None:
        docs, problems = parse_documents(path.read_text("utf-8"), str(path))
        if problems:
            raise ManifestError(problems)
        if docs:
            data = docs[0].data if isinstance(docs[0].data, dict) else {}
    overrides = {"owner": env.get("CHARIOT_APPLY_OWNER"), "project": env.get("CHARIOT_APPLY_PROJECT")}
    data |= {k: v for k, v in overrides.items() if v}
    try:
        return ProjectFile.model_validate(data), path
    except ValidationError as exc:
        location = Location(str(path or "environment"))
        raise ManifestError([ManifestProblem(location, format_path(tuple(e["loc"])), e["msg"])
                             for e in exc.errors()]) from None


def add_adopted(path: Path, run_id: str) -> None:
    """Record an adopted run id in the project file (creating the file if needed)."""
    data = yaml.safe_load(path.read_text("utf-8")) if path.is_file() else {}
    data = data or {}
    adopted = list(data.get("adopted") or [])
    if run_id not in adopted:
        adopted.append(run_id)
    data["adopted"] = adopted
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
