"""What the fetch phase learned from Chariot: the input of the pure diff, next to the manifests."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from chariot_apply.chariot.errors import ConfigError
from chariot_apply.chariot.models import Blueprint, Event, Model, Project, Resources, Run, RunSummary
from chariot_apply.plan.harvest import Harvest
from chariot_apply.plan.sensitive import write_only_paths

BlueprintKey = tuple[str, str | None]  # (name, version pattern)
ValidationKey = tuple[str, str]  # (blueprint id, canonical config JSON)


@dataclass(frozen=True)
class ResolvedBlueprint:
    id: str
    name: str
    version: str
    task_types: tuple[str, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @functools.cached_property
    def write_only(self) -> tuple[str, ...]:
        """The config paths its schema marks write-only: walked once per blueprint, not once per run."""
        return write_only_paths(self.config_schema)

    @property
    def described(self) -> bool:
        """False where the backend could say only the blueprint's id (the SDK): version, schema and task types
        are unknown, not empty."""
        return bool(self.version)

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
    runs: tuple[Run, ...]  # whole: those at the declared addresses (and any others a caller gives whole)
    complete_projects: frozenset[str] = frozenset()  # project ids whose runs were all listed
    active_projects: frozenset[str] = frozenset()  # project ids whose active runs were all listed (at least)
    adopted: frozenset[str] = frozenset()
    gpu_types: frozenset[str] | None = None  # what get_available_system_gpus offers; None: not asked
    harvest: Mapping[str, Harvest] = field(default_factory=dict)  # by run id: checkpoints and their metrics
    #: The last event of each failed run a retry rule looks at, by run id (scrubbed of the run's secrets): its cause
    last_events: Mapping[str, Event] = field(default_factory=dict)
    #: The champions promotions must beat: (model NAME@VERSION, metric) -> its value at the checkpoint it was made
    #: from (None: not known: no such model, or not made by chariot-apply from a run whose metrics can be read)
    champions: Mapping[tuple[str, str], float | None] = field(default_factory=dict)
    #: Model creates an earlier apply sent whose outcome is unknown (project id, name, version): not promoted
    #: again while they may still commit.
    pending_models: frozenset[tuple[str, str, str]] = frozenset()
    models: tuple[Model, ...] | None = ()  # in the projects where runs declare promotions or retention; None:
    # the backend cannot list models
    newer: Mapping[BlueprintKey, ResolvedBlueprint] = field(default_factory=dict)  # past the lock
    elsewhere: tuple[RunSummary, ...] = ()  # the runs listed at addresses no manifest declares
    known_projects: tuple[str, ...] = ()  # every project's name, listed only when a declared one was not found
    now: datetime | None = None  # when it was fetched: spec.limits are measured to it (None: not measured)


Validation = Mapping[ValidationKey, tuple[ConfigError, ...]]

#: A model create (project id, model name, model version).
ModelKey = tuple[str, str, str]
#: A model create whose outcome is unknown may still commit for this long; after it, it is forgotten.
PENDING_FOR = timedelta(minutes=10)


def still_pending(entries: Mapping[ModelKey, datetime], now: datetime) -> dict[ModelKey, datetime]:
    """Those of ``entries`` sent less than ``PENDING_FOR`` before ``now`` (the server's time, where known: the
    times recorded are its own)."""
    return {key: sent for key, sent in entries.items() if now - sent < PENDING_FOR}


_EPOCH = datetime.min.replace(tzinfo=UTC)
RunKey = tuple[str, str, str]  # (project id, name, version): one address


class RunIdentity(Protocol):
    """What a whole run and a summary of one both say: enough to place, order and own it."""

    @property
    def id(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def project_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def blueprint_id(self) -> str | None: ...
    @property
    def resources(self) -> Resources | None: ...


R = TypeVar("R", bound=RunIdentity)


def run_key(run: RunIdentity) -> RunKey:
    return run.project_id or "", run.name or "", run.version or ""


def oldest_first(runs: Iterable[R]) -> list[R]:
    """The order every process agrees on without talking: by creation time, then id. The first is *the* run."""
    return sorted(runs, key=lambda r: (r.created_at is None, r.created_at or _EPOCH, r.id or ""))


def runs_by_address(runs: Iterable[R]) -> dict[RunKey, list[R]]:
    """The runs at each address, oldest first."""
    grouped: dict[RunKey, list[R]] = defaultdict(list)
    for run in runs:
        grouped[run_key(run)].append(run)
    return {key: oldest_first(group) if len(group) > 1 else group for key, group in grouped.items()}


@dataclass(frozen=True)
class ProjectIndex:
    """Projects by name or id (a manifest may give either), and names by id."""

    ids: Mapping[str, str]
    names: Mapping[str, str]

    @classmethod
    def of(cls, projects: Iterable[Project]) -> ProjectIndex:
        known = list(projects)
        return cls(ids={p.name: p.id for p in known} | {p.id: p.id for p in known},
                   names={p.id: p.name for p in known})
