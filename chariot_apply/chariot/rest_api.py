"""Our model of the Chariot training service's REST interface, shared by client and emulator.

Striveworks publishes no OpenAPI for ``/api/training/v2/``: these paths and
bodies are a model built from the SDK reference (see ``docs/chariot-api.md``).
When a real server differs, correct it here, in this one place.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chariot_apply.chariot.models import (
    Blueprint,
    Checkpoint,
    CheckpointField,
    CheckpointSort,
    CheckpointStatus,
    Event,
    EventSort,
    Metric,
    Model,
    Project,
    ReloadField,
    Resources,
    Run,
    RunField,
    RunSort,
    RunStatus,
    RunSummary,
    SystemGpu,
)

TRAINING = "/api/training/v2"
LOGIN = "/auth/client/v2/chariot/login"
PROJECTS = "/api/identity/v2/projects"
#: Models by project, name and version: our model of the models service's listing (not published).
MODELS = "/api/models/v1/models"
#: chariot.system_resources.get_available_system_gpus: our model of its path (not published).
SYSTEM_GPUS = "/api/system-resources/v1/gpus"
BLUEPRINTS = f"{TRAINING}/blueprints"
BLUEPRINT_LOOKUP = f"{TRAINING}/blueprints/lookup"
RUNS = f"{TRAINING}/runs"
RUNS_VALIDATE = f"{TRAINING}/runs/validate"
CHECKPOINTS = f"{TRAINING}/checkpoints"


def blueprint_path(blueprint_id: str) -> str:
    return f"{BLUEPRINTS}/{blueprint_id}"


def run_path(run_id: str, suffix: str = "") -> str:
    return f"{RUNS}/{run_id}{suffix}"


def checkpoint_path(checkpoint_id: str, suffix: str = "") -> str:
    return f"{CHECKPOINTS}/{checkpoint_id}{suffix}"


REQUEST_ID_HEADER = "X-Request-ID"

# Defaults stated by the SDK reference.
RUNS_DEFAULT_LIMIT = 10
CHECKPOINTS_DEFAULT_LIMIT = 10
EVENTS_DEFAULT_LIMIT = 100
METRICS_DEFAULT_LIMIT = 1000
RUNS_DEFAULT_SORT = "created_at:desc"
CHECKPOINTS_DEFAULT_SORT = "created_at:desc"
EVENTS_DEFAULT_SORT = "sequence:desc"
DEFAULT_STOP_GRACE_SECONDS = 600.0
# Not in the reference: the largest page our model serves. A real server surely has one too.
MAX_PAGE_SIZE = 1000


#: Counts and offsets are 64-bit integers on the wire, as in any SQL server; more is refused, not overflowed.
MAX_INT64 = 2**63 - 1
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]
#: A stop's grace period, at most a year (the SDK names no bound; a real server surely has one).
MAX_GRACE_SECONDS = 365 * 24 * 3600


def finite_json(value: Any, path: str = "$") -> Any:
    """``value`` unchanged, if JSON can carry it: no NaN or Infinity anywhere inside."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: {value} is not a JSON number")
    if isinstance(value, dict):
        for key, item in value.items():
            finite_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_json(item, f"{path}[{index}]")
    return value


FiniteJson = Annotated[dict[str, Any], AfterValidator(finite_json)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class Query(BaseModel):
    """Query-string parameters: lists repeat the key (``ids=a&ids=b``), datetimes are ISO 8601."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    list_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        cls.list_fields = frozenset(
            name for name, f in cls.model_fields.items() if _is_list(f.annotation)
        )

    def to_params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        for name, value in self:
            if value is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                params.append((name, item.isoformat() if isinstance(item, datetime) else str(item)))
        return params

    @classmethod
    def from_params(cls, items: list[tuple[str, str]]) -> Self:
        data: dict[str, Any] = {}
        for key, value in items:
            if key in cls.list_fields:
                data.setdefault(key, []).append(value)
            else:
                data[key] = value
        return cls.model_validate(data)


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(get_origin(a) is list for a in get_args(annotation))


class RunQuery(Query):
    blueprint_ids: list[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    ids: list[str] | None = None
    id_after: str | None = None
    limit: Count | None = None
    offset: Count | None = None
    name_ilikes: list[str] | None = None
    project_ids: list[str] | None = None
    select: list[RunField] | None = None
    sort: list[RunSort] | None = None
    statuses: list[RunStatus] | None = None
    task_types: list[str] | None = None
    versions: list[str] | None = None
    user_ids: list[str] | None = None


class RunFieldsQuery(Query):
    fields: list[ReloadField] | None = None


class EventQuery(Query):
    limit: Count | None = None
    offset: Count | None = None
    sort: list[EventSort] | None = None


class MetricQuery(Query):
    global_steps: list[Count] | None = None
    tags: list[str] | None = None
    limit: Count | None = None
    created_before: datetime | None = None


class CheckpointQuery(Query):
    ids: list[str] | None = None
    run_ids: list[str] | None = None
    project_ids: list[str] | None = None
    global_steps: list[Count] | None = None
    statuses: list[CheckpointStatus] | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    select: list[CheckpointField] | None = None
    sort: list[CheckpointSort] | None = None
    limit: Count | None = None
    offset: Count | None = None


class CheckpointDeleteQuery(Query):
    ids: list[str] | None = None
    run_ids: list[str] | None = None


class BlueprintLookupQuery(Query):
    name: str
    version_ilike: str | None = None


class BlueprintListQuery(Query):
    names: list[str] | None = None
    limit: Count | None = None
    offset: Count | None = None


class ProjectQuery(Query):
    name: str | None = None


class CreateRunBody(Body):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    resources: Resources
    config: FiniteJson
    task_type: str = Field(min_length=1)
    blueprint_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    notes: str | None = None


class ValidateConfigBody(Body):
    blueprint_id: str
    config: FiniteJson


class StopRunBody(Body):
    grace_period_seconds: float = Field(default=DEFAULT_STOP_GRACE_SECONDS, ge=1, le=MAX_GRACE_SECONDS,
                                        allow_inf_nan=False)


class CreateModelBody(Body):
    name: str = Field(min_length=1)
    version: str
    summary: str
    project_id: str | None = None


class Reply(BaseModel):
    """What the server answers; its validator is built when first used (a command uses a few of these)."""

    model_config = ConfigDict(defer_build=True)


class Created(Reply):
    id: str


class Valid(Reply):
    """A config ``validate_run_config`` accepts."""

    valid: bool


class ModelQuery(Query):
    project_ids: list[str] | None = None
    names: list[str] | None = None
    versions: list[str] | None = None


class ModelList(Reply):
    models: list[Model]


class SystemGpuList(Reply):
    gpus: list[SystemGpu]


class RunList(Reply):
    runs: list[Run]


class RunSummaryList(Reply):
    """A listing of runs read as summaries: the fields a summary lacks are skipped by the parser."""

    runs: list[RunSummary]


class EventList(Reply):
    events: list[Event]


class MetricList(Reply):
    metrics: list[Metric]


class CheckpointList(Reply):
    checkpoints: list[Checkpoint]


class GlobalSteps(Reply):
    global_steps: list[int]


class BlueprintList(Reply):
    blueprints: list[Blueprint]


class ProjectList(Reply):
    projects: list[Project]


class CheckpointFile(Reply):
    name: str
    size: int


class CheckpointFiles(Reply):
    files: list[CheckpointFile]


class ErrorDetail(Reply):
    path: str
    message: str


class ErrorBody(Reply):
    """The observed envelope ``{"error": "..."}``; 422 answers add ``errors`` with JSON paths."""

    error: str
    errors: list[ErrorDetail] | None = None


class TokenResponse(Reply):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"
