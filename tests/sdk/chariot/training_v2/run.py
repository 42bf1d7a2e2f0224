"""Training run management."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from chariot.training_v2._base import BaseModelWithDatetime as _Base
from chariot.training_v2._calls import call as _call
from chariot.training_v2._calls import dumped as _dumped
from chariot.training_v2.checkpoint import Checkpoint as _Checkpoint
from chariot.training_v2.checkpoint import get_checkpoints as _get_checkpoints
from chariot_apply.chariot.models import Resources as _OurResources


class Event(_Base):
    """Training run event."""

    id: str
    sequence: int
    run_id: str
    created_at: datetime
    status: str
    details: dict


class Gpu(_Base):
    """Gpu resource metadata."""

    count: int
    type: str


class Metric(_Base):
    """Training run metric."""

    id: str
    created_at: datetime
    run_id: str
    global_step: int
    tag: str
    value: float | int
    job_id: str | None = None


class Progress(_Base):
    """Training run progress."""

    operation: str
    value: float | int
    final_value: float | int
    units: str


class Resources(_Base):
    """Training run scheduling resources."""

    cpu: str
    memory: str
    ephemeral_storage: str | None = None
    gpu: Gpu | None = None


class Run(_Base):
    """Training run."""

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
    config: dict | None = None
    notes: str | None = None

    def _id(self) -> str:
        if not self.id:
            raise ValueError("the id is not set on this run")
        return self.id

    def delete(self):
        """Delete this run."""
        _call(lambda c: c.delete_run(self._id()))

    def get_all_metrics(self) -> list[Metric]:
        return [Metric.model_validate(_dumped(m)) for m in _call(lambda c: c.get_all_metrics(self._id()))]

    def get_checkpoints(self, *, ids: list[str] | None = None, project_ids: list[str] | None = None,
                        global_steps: list[int] | None = None,
                        statuses: list[Literal['incomplete', 'complete']] | None = None,
                        created_before: datetime | None = None, created_after: datetime | None = None,
                        select: list[Literal['id', 'created_at', 'run_id', 'project_id', 'global_step', 'status',
                                             'status_updated_at']] | None = None,
                        sort: list[Literal['id:asc', 'id:desc', 'created_at:asc', 'created_at:desc']] | None = None,
                        limit: int | None = None, offset: int | None = None) -> list[_Checkpoint]:
        return _get_checkpoints(ids=ids, run_ids=[self._id()], project_ids=project_ids, global_steps=global_steps,
                               statuses=statuses, created_before=created_before, created_after=created_after,
                               select=select, sort=sort, limit=limit, offset=offset)

    def get_events(self, limit: int | None = None, offset: int | None = None,
                   sort: list[Literal['sequence:desc', 'sequence:asc']] | None = None) -> list[Event]:
        events = _call(lambda c: c.get_events(self._id(), limit=limit, offset=offset, sort=sort))
        return [Event.model_validate(_dumped(e)) for e in events]

    def get_global_steps_with_checkpoints(self) -> list[int]:
        return _call(lambda c: c.get_global_steps_with_checkpoints(self._id()))

    def get_metrics(self, global_steps: list[int] | None = None, tags: list[str] | None = None, limit: int = 1000,
                    created_before: datetime | None = None) -> list[Metric]:
        metrics = _call(lambda c: c.get_metrics(self._id(), global_steps=global_steps, tags=tags, limit=limit,
                                               created_before=created_before))
        return [Metric.model_validate(_dumped(m)) for m in metrics]

    def reload(self, fields: list[str] | None = None):
        """Reload the training run, in place."""
        fresh = _call(lambda c: c.get_run(self._id(), fields))
        for name in fields if fields is not None else type(self).model_fields:
            setattr(self, name, getattr(Run.model_validate(_dumped(fresh)), name))

    def stop(self, grace_period: timedelta | None = None) -> None:
        _call(lambda c: c.stop_run(self._id(), grace_period))


def create_run(*, name: str, version: str, resources: Resources, config: dict, task_type: str, blueprint_id: str,
               project_id: str, notes: str | None = None) -> str:
    ours = _OurResources.model_validate(resources.model_dump())
    return _call(lambda c: c.create_run(name=name, version=version, resources=ours, config=config,
                                       task_type=task_type, blueprint_id=blueprint_id, project_id=project_id,
                                       notes=notes))


def get_runs(*, blueprint_ids: list[str] | None = None, created_after: datetime | None = None,
             created_before: datetime | None = None, ids: list[str] | None = None, id_after: str | None = None,
             limit: int | None = None, offset: int | None = None, name_ilikes: list[str] | None = None,
             project_ids: list[str] | None = None,
             select: list[Literal['*', 'id', 'project_id', 'user_id', 'created_at', 'name', 'version', 'blueprint_id',
                                  'task_type', 'config', 'resources', 'progress', 'progress_updated_at', 'status',
                                  'status_updated_at']] | None = None,
             sort: list[Literal['id:asc', 'id:desc', 'created_at:asc', 'created_at:desc']] | None = None,
             statuses: list[Literal['run_created', 'run_stop_requested', 'run_restart_requested', 'job_create_failed',
                                    'job_created', 'job_submitted', 'job_pending', 'job_running',
                                    'job_terminate_requested', 'job_terminating', 'job_terminated', 'job_failed',
                                    'job_completed', 'job_unknown']] | None = None,
             task_types: list[str] | None = None, versions: list[str] | None = None,
             user_ids: list[str] | None = None) -> list[Run]:
    filters = {k: v for k, v in dict(blueprint_ids=blueprint_ids, created_after=created_after,
                                     created_before=created_before, ids=ids, id_after=id_after, limit=limit,
                                     offset=offset, name_ilikes=name_ilikes, project_ids=project_ids, select=select,
                                     sort=sort, statuses=statuses, task_types=task_types, versions=versions,
                                     user_ids=user_ids).items() if v is not None}
    return [Run.model_validate(_dumped(r)) for r in _call(lambda c: c.get_runs(**filters))]


def validate_run_config(*, blueprint_id: str, config: dict):
    """Validate a training run configuration against the provided blueprint id."""
    _call(lambda c: c.validate_run_config(blueprint_id=blueprint_id, config=config))
