"""The SDK backend: every call goes through the official SDK's documented functions and methods, imported from
the modules the reference documents them in (``surface.SURFACE``), authenticated however the SDK is configured
(``chariot init`` or its own ``connect``): chariot-apply never asks for or keeps its credentials.

The SDK blocks, so its calls run in a bounded thread pool (the REST backend's concurrency), never on the event
loop; what it raises becomes our error tree in ``errors``, and what it returns is read by documented field names
in ``shapes``. What the reference offers no call for (a blueprint's config schema, task types and version;
listing projects, blueprints or models) is degraded in the open: ``limitations`` says what is skipped, and plans
say it once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from chariot_apply.backends.rest.retry import RETRYABLE_STATUSES, RetryPolicy
from chariot_apply.backends.sdk import errors, surface
from chariot_apply.backends.sdk.shapes import read_as, system_gpu
from chariot_apply.chariot.backend import Backend, matches_nothing, runs_by_id
from chariot_apply.chariot.errors import (
    ApiException,
    ChariotError,
    InvalidArgumentError,
    NotFoundError,
    RunDoesNotExistError,
    TransportError,
)
from chariot_apply.chariot.models import (
    Blueprint,
    Checkpoint,
    Event,
    Metric,
    Model,
    Project,
    Resources,
    Run,
    RunSummary,
    SystemGpu,
)

T = TypeVar("T")

RUN, CHECKPOINT = "chariot.training_v2.run", "chariot.training_v2.checkpoint"
#: What the SDK reference offers no call for, and so what this backend cannot do: said once in every plan.
LIMITATIONS: tuple[str, ...] = (
    "the SDK has no call for a blueprint's config schema, task types or version: taskType is not checked "
    "(declare it), and the plan shows blueprint ids",
    "the SDK lists no models: promotions and checkpoint retention cannot tell what was made, and are refused "
    "(use --backend rest for them)",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SdkBackend:
    """``Backend`` over the official SDK, in a thread pool of ``concurrency`` threads."""

    limitations: tuple[str, ...] = LIMITATIONS
    lists_models = False

    def server_now(self) -> datetime | None:
        """The SDK does not show its answers' headers: the local clock is used."""
        return None

    check_installed = staticmethod(surface.check_installed)

    def __init__(self, *, concurrency: int = 32, retry: RetryPolicy | None = None) -> None:
        self.check_installed()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chariot-sdk")
        self.retry = retry or RetryPolicy()
        self.requests_sent = 0

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, function: Callable[..., T], /, *args: Any, write: bool = False,
                    mapped: Callable[[Exception], Exception] | None = None, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` on a pool thread, what it raises in our error tree (``mapped``, else
        ``errors.ours``). Reads are retried with backoff, as the REST backend retries them (a connection error,
        429, 502-504); writes never are: their outcome is for the executor to look up."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            self.requests_sent += 1
            try:
                return await loop.run_in_executor(self._pool, functools.partial(function, *args, **kwargs))
            except Exception as exc:
                ours = mapped(exc) if mapped is not None else errors.ours(exc, write=write)
                attempt += 1
                retryable = type(ours) is TransportError or (isinstance(ours, ApiException)
                                                              and ours.status in RETRYABLE_STATUSES)
                if write or not retryable or attempt >= self.retry.attempts:
                    raise ours from None
            await asyncio.sleep(self.retry.delay(attempt - 1))

    # ------------------------------------------------------------------ projects, blueprints, resources

    async def get_projects(self, name: str | None = None) -> list[Project]:
        if name is None:
            raise ChariotError("the SDK lists no projects", hint="name the project")
        return await self.find_projects([name])

    async def find_projects(self, names: Sequence[str]) -> list[Project]:
        found = await asyncio.gather(*(self._project(name) for name in sorted(set(names))))
        return [p for p in found if p is not None]

    async def _project(self, name: str) -> Project | None:
        try:
            return Project(id=await self.get_project_id(name), name=name)
        except (NotFoundError, InvalidArgumentError):
            return None

    async def get_project_id(self, name: str) -> str:
        if not name:
            raise InvalidArgumentError("project name must not be empty")
        return str(await self._call(surface.documented("chariot.projects", "get_project_id"), name))

    async def lookup_blueprint(self, name: str, version_ilike: str | None = None) -> Blueprint:
        """What the SDK can say of a blueprint: its id. Its version, schema and task types are unknown here."""
        blueprint_id = await self.lookup_blueprint_id(name, version_ilike)
        return Blueprint(id=blueprint_id, name=name, version="", created_at=_EPOCH)  # version: unknown

    async def lookup_blueprint_id(self, name: str, version_ilike: str | None = None) -> str:
        lookup = surface.documented("chariot.training_v2.blueprint", "lookup_blueprint_id")
        return str(await self._call(lookup, name, version_ilike))

    async def get_blueprint(self, blueprint_id: str) -> Blueprint:
        """The SDK cannot read a blueprint by id: all that is known is the id (LIMITATIONS)."""
        return Blueprint(id=blueprint_id, name="", version="", created_at=_EPOCH)

    async def get_blueprints(self, names: Sequence[str] | None = None, limit: int | None = None,
                             offset: int | None = None) -> list[Blueprint]:
        return []  # the SDK lists no blueprints: no "newer blueprint" notice on this backend

    async def get_available_system_gpus(self) -> list[SystemGpu]:
        gpus = await self._call(surface.documented("chariot.system_resources", "get_available_system_gpus"))
        return [system_gpu(g) for g in gpus]

    # ------------------------------------------------------------------ runs

    async def validate_run_config(self, *, blueprint_id: str, config: dict[str, Any]) -> None:
        await self._call(surface.documented(RUN, "validate_run_config"), mapped=errors.config_refused,
                         blueprint_id=blueprint_id, config=config)

    async def create_run(self, *, name: str, version: str, resources: Resources, config: dict[str, Any],
                         task_type: str, blueprint_id: str, project_id: str, notes: str | None = None) -> str:
        return str(await self._call(surface.documented(RUN, "create_run"), write=True, name=name, version=version,
                                    resources=self._resources(resources), config=config, task_type=task_type,
                                    blueprint_id=blueprint_id, project_id=project_id, notes=notes))

    @staticmethod
    def _resources(resources: Resources) -> Any:
        """Ours as the SDK's ``Resources`` (and ``Gpu``), built by their documented keyword parameters."""
        gpu = resources.gpu
        try:
            return surface.documented(RUN, "Resources")(
                cpu=resources.cpu, memory=resources.memory, ephemeral_storage=resources.ephemeral_storage,
                gpu=surface.documented(RUN, "Gpu")(count=gpu.count, type=gpu.type) if gpu else None)
        except Exception as exc:  # the SDK's own checks: nothing was sent
            raise InvalidArgumentError(f"the SDK refused these resources: {exc}") from None

    async def get_runs(self, /, **filters: Any) -> list[Run]:
        if matches_nothing(filters):
            return []  # the SDK would send no filter at all
        runs = await self._call(surface.documented(RUN, "get_runs"), **_sdk_filters(filters))
        return [read_as(Run, r) for r in runs]

    async def get_run_summaries(self, /, **filters: Any) -> list[RunSummary]:
        return [RunSummary.of(r) for r in await self.get_runs(**filters)]

    def iter_runs(self, *, page_size: int = 500, **filters: Any) -> AsyncIterator[Run]:
        return runs_by_id(self.get_runs, page_size, filters)

    async def _sdk_run(self, run_id: str) -> Any:
        runs = await self._call(surface.documented(RUN, "get_runs"), ids=[run_id], limit=1)
        if not runs:
            raise RunDoesNotExistError(404, message=f"run {run_id} does not exist")
        return runs[0]

    async def get_run(self, run_id: str, fields: Sequence[str] | None = None) -> Run:
        return read_as(Run, await self._sdk_run(run_id))

    async def stop_run(self, run_id: str, grace_period: timedelta | None = None) -> None:
        run = await self._sdk_run(run_id)
        await self._call(run.stop, grace_period, write=True)

    async def delete_run(self, run_id: str) -> None:
        run = await self._sdk_run(run_id)
        await self._call(run.delete, write=True)

    async def get_events(self, run_id: str, *, limit: int | None = None, offset: int | None = None,
                         sort: Sequence[str] | None = None) -> list[Event]:
        run = await self._sdk_run(run_id)
        events = await self._call(run.get_events, limit, offset, list(sort) if sort is not None else None)
        return [read_as(Event, e) for e in events]

    async def get_metrics(self, run_id: str, *, global_steps: Sequence[int] | None = None,
                          tags: Sequence[str] | None = None, limit: int = 1000,
                          created_before: datetime | None = None) -> list[Metric]:
        run = await self._sdk_run(run_id)
        metrics = await self._call(run.get_metrics, list(global_steps) if global_steps is not None else None,
                                   list(tags) if tags is not None else None, limit, created_before)
        return [read_as(Metric, m) for m in metrics]

    async def get_all_metrics(self, run_id: str) -> list[Metric]:
        run = await self._sdk_run(run_id)
        return [read_as(Metric, m) for m in await self._call(run.get_all_metrics)]

    # ------------------------------------------------------------------ checkpoints and models

    async def get_checkpoints(self, /, **filters: Any) -> list[Checkpoint]:
        if matches_nothing(filters):
            return []
        found = await self._call(surface.documented(CHECKPOINT, "get_checkpoints"), **_sdk_filters(filters))
        return [read_as(Checkpoint, c) for c in found]

    async def delete_checkpoints(self, *, ids: Sequence[str] | None = None,
                                 run_ids: Sequence[str] | None = None) -> None:
        if not ids and not run_ids:
            raise InvalidArgumentError("either ids or run_ids must be given, so that not every checkpoint "
                                       "is deleted by accident")
        await self._call(surface.documented(CHECKPOINT, "delete_checkpoints"), write=True,
                         ids=list(ids) if ids else None, run_ids=list(run_ids) if run_ids else None)

    async def download_checkpoint(self, checkpoint_id: str, file_dir: str | Path) -> list[Path]:
        directory = Path(file_dir)
        if not directory.is_dir():
            raise InvalidArgumentError(f"file_dir {str(directory)!r} must be an existing directory")
        before = set(directory.rglob("*"))
        await self._call(surface.documented(CHECKPOINT, "download_checkpoint"), checkpoint_id, str(directory))
        return sorted(p for p in directory.rglob("*") if p.is_file() and p not in before)

    async def create_model_from_checkpoint(self, *, checkpoint_id: str, name: str, version: str, summary: str,
                                           project_id: str | None = None) -> str:
        return str(await self._call(surface.documented(CHECKPOINT, "create_model_from_checkpoint"), write=True,
                                    checkpoint_id=checkpoint_id, name=name, version=version, summary=summary,
                                    project_id=project_id))

    async def get_models(self, *, project_ids: Sequence[str] | None = None, names: Sequence[str] | None = None,
                         versions: Sequence[str] | None = None) -> list[Model]:
        return []  # the SDK lists no models (LIMITATIONS)


def _sdk_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Our filters as the SDK's keyword arguments: lists as lists, nothing unset."""
    return {k: list(v) if isinstance(v, tuple | set | frozenset) else v for k, v in filters.items() if v is not None}


def _is_a_backend(backend: SdkBackend) -> Backend:
    """mypy checks here that the SDK backend implements every operation of the ``Backend`` protocol."""
    return backend
