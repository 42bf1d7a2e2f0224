"""Typed manifests. ``schemas/manifest.schema.json`` is the contract; these models mirror it (a test keeps
them in agreement) and add what a schema cannot say, such as quantities that parse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chariot_apply.chariot.quantity import parse_quantity
from chariot_apply.chariot.semver import is_semver
from chariot_apply.manifest.duration import parse_duration_text
from chariot_apply.manifest.errors import Location
from chariot_apply.manifest.yaml_source import Path_, format_path

DesiredState = Literal["running", "stopped", "absent"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def _quantity_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str) and parse_quantity(value).value <= 0:
        raise ValueError(f"{value!r} must be more than zero")
    return value


class BlueprintRef(_Strict):
    name: str = Field(min_length=1, max_length=253)
    version: str | None = Field(default=None, min_length=1, max_length=128)


class GpuSpec(_Strict):
    count: int = Field(ge=1, le=1024, strict=True)
    type: str = Field(min_length=1, max_length=128)


class ResourcesSpec(_Strict):
    cpu: str
    memory: str
    ephemeral_storage: str | None = Field(default=None, alias="ephemeralStorage")
    gpu: GpuSpec | None = None

    _quantities = field_validator("cpu", "memory", "ephemeral_storage", mode="before")(
        lambda cls, v: _quantity_text(v))


class ModelTarget(_Strict):
    name: str = Field(min_length=1, max_length=253)
    version: str = Field(min_length=1, max_length=128)
    summary: str = Field(default="", max_length=4096)
    project: str | None = Field(default=None, min_length=1)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not is_semver(value):
            raise ValueError(f"{value!r} is not a SemVer version (e.g. 1.2.3)")
        return value


class CheckpointChoice(_Strict):
    """Which checkpoint: the last complete one, the best by a metric, or the one at a step."""

    select: Literal["last", "best", "step"] = "last"
    metric: str | None = Field(default=None, min_length=1)
    mode: Literal["min", "max"] = "min"
    step: int | None = Field(default=None, ge=0, strict=True)

    @model_validator(mode="after")
    def _complete(self) -> CheckpointChoice:
        if self.select == "best" and self.metric is None:
            raise ValueError("select: best needs a metric (a metric tag, such as loss)")
        if self.select == "step" and self.step is None:
            raise ValueError("select: step needs a step")
        return self


class BetterThan(_Strict):
    """The champion to beat: the model ``NAME@VERSION`` (in the promotion's model project), by ``by`` percent."""

    model: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    by: float = Field(default=0.0, ge=0.0, le=100.0)


class Require(_Strict):
    """What the chosen checkpoint must reach to be promoted, by ``metric`` (default: the checkpoint choice's):
    below or above a value, and better than a champion's, whose value comes from the run its model was made from."""

    metric: str | None = Field(default=None, min_length=1)
    mode: Literal["min", "max"] | None = None  # default: the checkpoint choice's
    below: float | None = None
    above: float | None = None
    better_than: BetterThan | None = Field(default=None, alias="betterThan")


class Promotion(_Strict):
    model: ModelTarget
    checkpoint: CheckpointChoice = CheckpointChoice()
    # finished: once the run has finished (a model version can never be made again: `best` must be the best of
    # the whole run); available: as soon as a matching checkpoint is complete.
    when: Literal["finished", "available"] = "finished"
    require: Require | None = None

    @model_validator(mode="after")
    def _require_has_a_metric(self) -> Promotion:
        if self.require is not None and not (self.require.metric or self.checkpoint.metric):
            raise ValueError("require needs a metric (require.metric, or the checkpoint choice's)")
        return self

    def required(self) -> tuple[str, Literal["min", "max"]] | None:
        """The metric and mode ``require`` judges by, if any."""
        if self.require is None:
            return None
        return self.require.metric or self.checkpoint.metric or "", self.require.mode or self.checkpoint.mode


#: What a sweep's promotion must select: its winner is the best checkpoint of its points ("last" of several runs
#: means nothing). Checked on the sweep (at the line, expand.py) and on a point that carries it (render's output).
SWEEP_SELECT = "a sweep promotes its winner: select: best (by a metric)"


class EarlyStop(_Strict):
    """A sweep's rule for stopping a point early: at each of ``at_steps``, a point whose ``metric`` is worse than
    the median of the other points that reached that step (``rule: median``, with at least ``min_points`` values) or
    than ``threshold`` (``rule: threshold``) is stopped; it keeps its checkpoints and never wins the sweep."""

    rule: Literal["median", "threshold"] = "median"
    metric: str = Field(min_length=1)
    mode: Literal["min", "max"] = "min"
    at_steps: tuple[Annotated[int, Field(ge=1)], ...] = Field(alias="atSteps", min_length=1)
    min_points: int = Field(default=3, alias="minPoints", ge=2, le=10_000, strict=True)
    threshold: float | None = None

    @model_validator(mode="after")
    def _threshold_given(self) -> EarlyStop:
        if self.rule == "threshold" and self.threshold is None:
            raise ValueError("rule: threshold needs a threshold")
        return self


class SweepOrigin(_Strict):
    """The sweep a run came from, and its point's slug (recorded in the run's marker); ``promote``: the sweep's
    own promotions (its winner's best checkpoint), which every point carries so that the planner sees them."""

    name: str = Field(min_length=1, max_length=253)
    point: str = Field(min_length=1, max_length=253)
    promote: tuple[Promotion, ...] = ()
    max_concurrent: int | None = Field(default=None, alias="maxConcurrent", ge=1, le=10_000, strict=True)
    max_concurrent_gpus: int | None = Field(default=None, alias="maxConcurrentGpus", ge=1, le=100_000, strict=True)
    clamp_to_budget: bool = Field(default=False, alias="clampToBudget")
    early_stop: EarlyStop | None = Field(default=None, alias="earlyStop")

    @field_validator("promote")
    @classmethod
    def _best_only(cls, value: tuple[Promotion, ...]) -> tuple[Promotion, ...]:
        if any(p.checkpoint.select != "best" for p in value):
            raise ValueError(SWEEP_SELECT)
        return value


class Metadata(_Strict):
    name: str = Field(min_length=1, max_length=253)
    version: str = Field(min_length=1, max_length=128)
    project: str | None = Field(default=None, min_length=1, max_length=253)
    sweep: SweepOrigin | None = None


class BestKeep(_Strict):
    metric: str = Field(min_length=1)
    mode: Literal["min", "max"] = "min"
    count: int = Field(ge=1, strict=True)


class Keep(_Strict):
    last: int | None = Field(default=None, ge=0, strict=True)
    best: BestKeep | None = None


class CheckpointPolicy(_Strict):
    keep: Keep


def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        value = str(value)
    if isinstance(value, str):
        parse_duration_text(value)
    return value


class Stall(_Strict):
    """Progress that has not moved for ``no_progress_for`` (while the job runs) stops the run, or recreates it: the
    stalled run is stopped and kept (its checkpoints with it) as an attempt, and a new one is created once it has
    stopped, at most ``max_retries`` times."""

    no_progress_for: str = Field(alias="noProgressFor")
    action: Literal["stop", "recreate"] = "stop"
    max_retries: int = Field(default=3, alias="maxRetries", ge=0, le=100, strict=True)

    _durations = field_validator("no_progress_for", mode="before")(lambda cls, v: _duration(v))


class Limits(_Strict):
    max_duration: str | None = Field(default=None, alias="maxDuration")
    stall: Stall | None = None

    _durations = field_validator("max_duration", mode="before")(lambda cls, v: _duration(v))


#: Retries when ``onFailure: recreate`` says no number.
DEFAULT_MAX_RETRIES = 3


FailureCause = Literal["infrastructure", "preempted", "timeout", "diverged", "out_of_memory", "configuration",
                       "unknown"]


class Backoff(_Strict):
    """The wait before a retry: ``initial`` after the first failure, times ``factor`` after each next one, at most
    ``max``; measured from the failed attempt's end, by the server's clock."""

    initial: str
    factor: float = Field(default=2.0, ge=1.0, le=100.0)
    max: str | None = None

    _durations = field_validator("initial", "max", mode="before")(lambda cls, v: _duration(v))


class Thrash(_Strict):
    """A run that fails ``failures`` times within ``within`` is not retried again: something is broken."""

    failures: int = Field(ge=2, le=100, strict=True)
    within: str

    _durations = field_validator("within", mode="before")(lambda cls, v: _duration(v))


class OnFailure(_Strict):
    """What a failed run calls for: left as it is, or recreated at most ``max_retries`` times (attempts are the
    failed runs at its address), resuming from the last complete checkpoint where ``resume`` says so; only for the
    causes in ``retry_on`` and not in ``except_`` (``plan.causes``), after ``backoff``, unless it thrashes."""

    action: Literal["leave", "recreate"] = "leave"
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, alias="maxRetries", ge=0, le=100, strict=True)
    resume: Literal["lastCheckpoint", "none"] = "none"
    retry_on: tuple[FailureCause, ...] | None = Field(default=None, alias="retryOn")  # None: every cause
    except_: tuple[FailureCause, ...] = Field(default=(), alias="except")
    backoff: Backoff | None = None
    thrash: Thrash | None = None

    def retries(self, cause: str) -> bool:
        return (self.retry_on is None or cause in self.retry_on) and cause not in self.except_

    @classmethod
    def shorthand(cls, value: Any) -> Any:
        """``onFailure: recreate`` is ``{action: recreate}``."""
        return {"action": value} if isinstance(value, str) else value


class RunSpec(_Strict):
    blueprint: BlueprintRef
    task_type: str | None = Field(default=None, alias="taskType", min_length=1, max_length=253)
    resources: ResourcesSpec
    config: dict[str, Any] = Field(default_factory=dict)
    notes: str | None = Field(default=None, max_length=16384)
    state: DesiredState = "running"
    allow_replace: bool = Field(default=False, alias="allowReplace", strict=True)
    sensitive: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    on_failure: OnFailure = Field(default=OnFailure(), alias="onFailure")
    promote: tuple[Promotion, ...] = ()
    checkpoints: CheckpointPolicy | None = None
    limits: Limits | None = None
    depends_on: tuple[Annotated[str, Field(min_length=1, max_length=700)], ...] = Field(default=(),
                                                                                      alias="dependsOn")
    protect: bool = Field(default=False, strict=True)  # never stopped, deleted or replaced without --allow-protected

    _on_failure = field_validator("on_failure", mode="before")(lambda cls, v: OnFailure.shorthand(v))


class TrainingRun(_Strict):
    api_version: Literal["chariot-apply/v1"] = Field(alias="apiVersion")
    kind: Literal["TrainingRun"]
    metadata: Metadata
    spec: RunSpec


DEFAULT_MAX_RUNS = 256


class SweepMetadata(_Strict):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: str = Field(min_length=1, max_length=128)
    project: str | None = Field(default=None, min_length=1, max_length=253)


class Matrix(_Strict):
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    include: tuple[dict[str, Any], ...] = ()
    exclude: tuple[dict[str, Any], ...] = ()


class SweepSpec(_Strict):
    template: RunSpec
    matrix: Matrix
    max_runs: int = Field(default=DEFAULT_MAX_RUNS, alias="maxRuns", ge=1, le=10_000, strict=True)
    # Points active at once, at most: the rest wait in the sweep's point order, and `reconcile` creates each as an
    # earlier one finishes (waves: a 48-point sweep need not ask for 48 GPUs now).
    max_concurrent: int | None = Field(default=None, alias="maxConcurrent", ge=1, le=10_000, strict=True)
    # The same in GPUs: the points' GPUs active at once, at most (a point that asks for more than all of it runs
    # alone).
    max_concurrent_gpus: int | None = Field(default=None, alias="maxConcurrentGpus", ge=1, le=100_000, strict=True)
    # Opt-in: where the team's policy.maxConcurrentGpus would refuse the sweep, its wave is narrowed to what the
    # budget leaves (said in the plan) instead.
    clamp_to_budget: bool = Field(default=False, alias="clampToBudget")
    early_stop: EarlyStop | None = Field(default=None, alias="earlyStop")
    state: DesiredState | None = None  # every point's, over the template's: `stopped` stops the whole sweep
    # The sweep's winner: the best checkpoint of all its points, once every point has finished (``when:
    # finished``), made into one model version. ``select: best`` only: "last" of several runs means nothing.
    promote: tuple[Promotion, ...] = ()


class TrainingRunSweep(_Strict):
    api_version: Literal["chariot-apply/v1"] = Field(alias="apiVersion")
    kind: Literal["TrainingRunSweep"]
    metadata: SweepMetadata
    spec: SweepSpec


class Selector(_Strict):
    project: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)


class DefaultsSpec(_Strict):
    selector: Selector = Selector()
    template: dict[str, Any]


class DefaultsMetadata(_Strict):
    name: str = Field(min_length=1, max_length=253)


class RunDefaults(_Strict):
    api_version: Literal["chariot-apply/v1"] = Field(alias="apiVersion")
    kind: Literal["RunDefaults"]
    metadata: DefaultsMetadata
    spec: DefaultsSpec


@dataclass(frozen=True)
class DeclaredRun:
    """A manifest, with where it came from and the project it names (name or id, as written)."""

    manifest: TrainingRun
    project: str
    location: Location
    field_locations: tuple[tuple[Path_, Location], ...] = ()  # paths formatted only when one is asked for
    filled: tuple[tuple[Path_, tuple[str, ...]], ...] = ()  # the values ${VARIABLES} filled, by path

    def variables_at(self, path: str) -> tuple[str, ...]:
        """The variables whose values fill ``path`` (e.g. ``spec.config.epochs``), or what encloses it."""
        filled = {format_path(p): names for p, names in self.filled}
        while path and path not in filled:
            path = path.rpartition(".")[0]
        return filled.get(path, ())

    @property
    def name(self) -> str:
        return self.manifest.metadata.name

    @property
    def version(self) -> str:
        return self.manifest.metadata.version

    @property
    def spec(self) -> RunSpec:
        return self.manifest.spec

    @property
    def promotions(self) -> tuple[Promotion, ...]:
        """Every promotion this run takes part in: its own, then its sweep's (of which it may be the winner)."""
        origin = self.manifest.metadata.sweep
        return self.spec.promote + (origin.promote if origin is not None else ())

    def where(self, path: str) -> Location:
        """Where ``path`` (e.g. ``spec.blueprint.version``) or its nearest ancestor is written."""
        locations = {format_path(p): loc for p, loc in self.field_locations}
        while path and path not in locations:
            path = path.rpartition(".")[0]
        return locations.get(path, self.location)
