"""Typed models of the Chariot training service, mirroring ``chariot.training_v2``.

Fields the SDK marks optional stay optional: a ``select`` on ``get_runs`` leaves
unselected fields ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field


class ChariotModel(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), validate_assignment=True, extra="ignore", defer_build=True)


RunStatus = Literal[
    "run_created",
    "run_stop_requested",
    "run_restart_requested",
    "job_create_failed",
    "job_created",
    "job_submitted",
    "job_pending",
    "job_running",
    "job_terminate_requested",
    "job_terminating",
    "job_terminated",
    "job_failed",
    "job_completed",
    "job_unknown",
]
#: A run in one of these statuses will not change again by itself.
FINISHED_STATUSES = frozenset({"job_create_failed", "job_terminated", "job_failed", "job_completed"})
#: A run in one of these may still change by itself (every status but the finished ones).
ACTIVE_STATUSES: tuple[str, ...] = tuple(s for s in get_args(RunStatus) if s not in FINISHED_STATUSES)
#: A stop has been asked for and is under way.
STOPPING_STATUSES = frozenset(
    {"run_stop_requested", "job_terminate_requested", "job_terminating"}
)

RunField = Literal[
    "*", "id", "project_id", "user_id", "created_at", "name", "version", "blueprint_id",
    "task_type", "config", "resources", "progress", "progress_updated_at", "status",
    "status_updated_at",
]
RunSort = Literal["id:asc", "id:desc", "created_at:asc", "created_at:desc"]
RUN_SORTS: tuple[str, ...] = get_args(RunSort)
ReloadField = Literal["status", "status_updated_at", "progress", "progress_updated_at", "notes"]
RELOAD_FIELDS: tuple[str, ...] = get_args(ReloadField)
EventSort = Literal["sequence:desc", "sequence:asc", "sequence"]
CheckpointStatus = Literal["incomplete", "complete"]
CheckpointField = Literal[
    "id", "created_at", "run_id", "project_id", "global_step", "status", "status_updated_at"
]
CheckpointSort = Literal["id:asc", "id:desc", "created_at:asc", "created_at:desc"]


class Gpu(ChariotModel):
    count: int
    type: str


class Model(ChariotModel):
    """A model made from a checkpoint (``create_model_from_checkpoint``)."""

    id: str
    name: str
    version: str
    summary: str | None = None
    project_id: str | None = None
    checkpoint_id: str | None = None
    created_at: datetime | None = None


class SystemGpu(ChariotModel):
    """A GPU type the cluster offers (``chariot.system_resources.get_available_system_gpus``)."""

    type: str
    count: int | None = None


class Resources(ChariotModel):
    """Kubernetes quantities, kept as the strings the user wrote (``"500m"``, ``"5Gi"``)."""

    cpu: str
    memory: str
    ephemeral_storage: str | None = None
    gpu: Gpu | None = None


class Progress(ChariotModel):
    operation: str
    value: float | int | None
    final_value: float | int
    units: str


class Run(ChariotModel):
    id: str | None = None
    name: str | None = None
    version: str | None = None
    created_at: datetime | None = None
    blueprint_id: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    progress: list[Progress] | None = None
    progress_updated_at: datetime | None = None
    status: str | None = None
    status_updated_at: datetime | None = None
    task_type: str | None = None
    resources: Resources | None = None
    config: dict[str, Any] | None = None
    notes: str | None = None


class RunSummary(ChariotModel):
    """What a plan keeps of a run at an address no manifest declares: its identity, status and notes (whose marker
    says who owns it). Most runs of a large project are such runs: parsed from a listing straight into this type,
    their configs are never built (a page parses in less than half the time), and nothing can read a config it
    does not have."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    name: str | None = None
    version: str | None = None
    created_at: datetime | None = None
    blueprint_id: str | None = None
    project_id: str | None = None
    status: str | None = None
    notes: str | None = None
    resources: Resources | None = None  # what it holds while active: a plan's GPU footprint counts it

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(id=run.id, name=run.name, version=run.version, created_at=run.created_at,
                   blueprint_id=run.blueprint_id, project_id=run.project_id, status=run.status, notes=run.notes,
                   resources=run.resources)


class Event(ChariotModel):
    id: str
    sequence: int
    run_id: str
    created_at: datetime
    status: str
    details: dict[str, Any]


class Metric(ChariotModel):
    id: str
    created_at: datetime
    run_id: str
    global_step: int
    tag: str
    value: float | int | None
    job_id: str | None = None


class Checkpoint(ChariotModel):
    id: str | None = None
    run_id: str | None = None
    global_step: int | None = None
    project_id: str | None = None
    created_at: datetime | None = None
    status: str | None = None
    status_updated_at: datetime | None = None
    bucket_name: str | None = None
    key_prefix: str | None = None


class Blueprint(ChariotModel):
    id: str
    name: str
    version: str
    created_at: datetime
    config_schema: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    task_types: list[str] = Field(default_factory=list)


class Project(ChariotModel):
    id: str
    name: str
