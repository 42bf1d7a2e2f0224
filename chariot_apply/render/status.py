"""The runs we manage, as a table or a JSON document (``schemas/status.schema.json``). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chariot_apply.chariot.models import Run

STATUS_FORMAT_VERSION: Literal[1] = 1


class ProgressLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    operation: str | None
    value: float | None
    final_value: float | None
    units: str | None


class RunStatusLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    address: str
    id: str
    status: str | None
    status_updated_at: datetime | None
    created_at: datetime | None
    progress: tuple[ProgressLine, ...]


class StatusDocument(BaseModel):
    """What ``chariot-apply status --format json`` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="chariot-apply status")
    format_version: Literal[1] = STATUS_FORMAT_VERSION
    owner: str
    projects: tuple[str, ...]
    runs: tuple[RunStatusLine, ...]


def status_document(runs: Iterable[Run], project_names: Mapping[str, str], owner: str,
                    projects: Iterable[str]) -> StatusDocument:
    lines = []
    for run in runs:
        project = project_names.get(run.project_id or "", run.project_id or "?")
        lines.append(RunStatusLine(
            address=f"{project}/{run.name}@{run.version}", id=run.id or "", status=run.status,
            status_updated_at=run.status_updated_at, created_at=run.created_at,
            progress=tuple(ProgressLine(operation=p.operation, value=p.value, final_value=p.final_value,
                                        units=p.units) for p in run.progress or ())))
    return StatusDocument(owner=owner, projects=tuple(sorted(projects)),
                          runs=tuple(sorted(lines, key=lambda line: (line.address, line.id))))


def render_status_json(document: StatusDocument) -> str:
    return document.model_dump_json(indent=2) + "\n"


def render_status_text(document: StatusDocument) -> str:
    if not document.runs:
        return f"No runs owned by {document.owner!r} in {', '.join(document.projects)}.\n"
    rows = [("RUN", "STATUS", "PROGRESS", "ID")]
    for line in document.runs:
        progress = "-"
        if line.progress:
            p = line.progress[0]
            progress = f"{_number(p.value)}/{_number(p.final_value)} {p.units or ''}".rstrip()
        rows.append((line.address, line.status or "?", progress, line.id))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
                   for row in rows)


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def status_json_schema() -> dict[str, Any]:
    schema = StatusDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://chariot-apply.dev/schemas/status.schema.json", **schema}
