"""A blocking facade over ``AsyncChariotClient`` for scripts, shaped like ``chariot.training_v2``.

Where the SDK has a function, the facade's method of that name has the SDK's signature exactly; where the SDK has
a method of ``Run``, the facade's counterpart takes the run's id first and then the method's own parameters
(``get_events(run_id, limit, offset, sort)``). ``tests/test_sdk_signatures.py`` holds both to the reference.
Same errors and types as the async client.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import (
    Checkpoint,
    CheckpointField,
    CheckpointSort,
    CheckpointStatus,
    Event,
    Metric,
    Resources,
    Run,
    RunField,
    RunSort,
    RunStatus,
)

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(method: Callable[Concatenate[AsyncChariotClient, P], Coroutine[Any, Any, T]],
              ) -> Callable[Concatenate[ChariotClient, P], T]:
    """The async ``method``, run to completion on the facade's own loop (its signature kept, also for inspect)."""

    @functools.wraps(method)
    def call(self: ChariotClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._client, *args, **kwargs))

    return call


def _given(**values: Any) -> dict[str, Any]:
    """The filters a caller set: ``None`` means "not given" in the SDK's signatures."""
    return {k: v for k, v in values.items() if v is not None}


class ChariotClient:
    """``ChariotClient(AsyncChariotClient(...)).get_runs(limit=5)``: every operation, blocking.

    Owns a private event loop; not for use inside a running loop.
    """

    def __init__(self, client: AsyncChariotClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    @property
    def base_url(self) -> str:
        return self._client.base_url

    # Operations the SDK has too, with the SDK's signature (the async client's matches).
    lookup_blueprint_id = _blocking(AsyncChariotClient.lookup_blueprint_id)
    create_model_from_checkpoint = _blocking(AsyncChariotClient.create_model_from_checkpoint)
    # Run methods of the SDK: the run's id, then the method's parameters.
    stop_run = _blocking(AsyncChariotClient.stop_run)
    delete_run = _blocking(AsyncChariotClient.delete_run)
    get_all_metrics = _blocking(AsyncChariotClient.get_all_metrics)
    get_global_steps_with_checkpoints = _blocking(AsyncChariotClient.get_global_steps_with_checkpoints)
    # Ours alone (the SDK has no call for them, or names them without documenting them).
    get_projects = _blocking(AsyncChariotClient.get_projects)
    get_project_id = _blocking(AsyncChariotClient.get_project_id)
    get_available_system_gpus = _blocking(AsyncChariotClient.get_available_system_gpus)
    get_models = _blocking(AsyncChariotClient.get_models)
    lookup_blueprint = _blocking(AsyncChariotClient.lookup_blueprint)
    get_blueprint = _blocking(AsyncChariotClient.get_blueprint)
    get_blueprints = _blocking(AsyncChariotClient.get_blueprints)
    get_run = _blocking(AsyncChariotClient.get_run)

    def validate_run_config(self, *, blueprint_id: str, config: dict[str, Any]) -> None:
        self._run(self._client.validate_run_config(blueprint_id=blueprint_id, config=config))

    def create_run(self, *, name: str, version: str, resources: Resources, config: dict[str, Any], task_type: str,
                   blueprint_id: str, project_id: str, notes: str | None = None) -> str:
        return self._run(self._client.create_run(name=name, version=version, resources=resources, config=config,
                                                 task_type=task_type, blueprint_id=blueprint_id,
                                                 project_id=project_id, notes=notes))

    def get_runs(self, *, blueprint_ids: list[str] | None = None, created_after: datetime | None = None,
                 created_before: datetime | None = None, ids: list[str] | None = None, id_after: str | None = None,
                 limit: int | None = None, offset: int | None = None, name_ilikes: list[str] | None = None,
                 project_ids: list[str] | None = None, select: list[RunField] | None = None,
                 sort: list[RunSort] | None = None, statuses: list[RunStatus] | None = None,
                 task_types: list[str] | None = None, versions: list[str] | None = None,
                 user_ids: list[str] | None = None) -> list[Run]:
        return self._run(self._client.get_runs(**_given(
            blueprint_ids=blueprint_ids, created_after=created_after, created_before=created_before, ids=ids,
            id_after=id_after, limit=limit, offset=offset, name_ilikes=name_ilikes, project_ids=project_ids,
            select=select, sort=sort, statuses=statuses, task_types=task_types, versions=versions,
            user_ids=user_ids)))

    def reload(self, run: Run, fields: list[str] | None = None) -> None:
        """Refresh ``run`` in place, as ``Run.reload`` does: the named fields (``None``: all reloadable ones)."""
        if run.id is None:
            raise ValueError("the run has no id to reload by")
        fresh = self._run(self._client.reload(run, fields))
        for name in fields if fields is not None else type(run).model_fields:
            setattr(run, name, getattr(fresh, name))

    def get_events(self, run_id: str, limit: int | None = None, offset: int | None = None,
                   sort: list[Literal["sequence:desc", "sequence:asc"]] | None = None) -> list[Event]:
        return self._run(self._client.get_events(run_id, limit=limit, offset=offset, sort=sort))

    def get_metrics(self, run_id: str, global_steps: list[int] | None = None, tags: list[str] | None = None,
                    limit: int = 1000, created_before: datetime | None = None) -> list[Metric]:
        return self._run(self._client.get_metrics(run_id, global_steps=global_steps, tags=tags, limit=limit,
                                                  created_before=created_before))

    def get_checkpoints(self, *, ids: list[str] | None = None, run_ids: list[str] | None = None,
                        project_ids: list[str] | None = None, global_steps: list[int] | None = None,
                        statuses: list[CheckpointStatus] | None = None, created_before: datetime | None = None,
                        created_after: datetime | None = None, select: list[CheckpointField] | None = None,
                        sort: list[CheckpointSort] | None = None, limit: int | None = None,
                        offset: int | None = None) -> list[Checkpoint]:
        return self._run(self._client.get_checkpoints(**_given(
            ids=ids, run_ids=run_ids, project_ids=project_ids, global_steps=global_steps, statuses=statuses,
            created_before=created_before, created_after=created_after, select=select, sort=sort, limit=limit,
            offset=offset)))

    def delete_checkpoints(self, *, ids: list[str] | None = None, run_ids: list[str] | None = None) -> None:
        self._run(self._client.delete_checkpoints(ids=ids, run_ids=run_ids))

    def download_checkpoint(self, id: str, file_dir: str) -> None:
        self._run(self._client.download_checkpoint(id, file_dir))

    def iter_runs(self, **filters: Any) -> Iterator[Run]:
        """Every run matching ``filters``, fetched page by page as the iteration goes."""
        pages = self._client.iter_runs(**filters)
        try:
            while True:
                try:
                    yield self._run(pages.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(pages.aclose())

    def _run(self, awaitable: Awaitable[T]) -> T:
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        self._run(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> ChariotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
