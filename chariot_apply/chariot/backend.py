"""What chariot-apply asks of a Chariot, whatever reaches it: the operations of ``chariot.training_v2`` it uses,
async. The planner, the executor, watching, harvesting and export talk to this protocol only; the REST client
(``backends.rest``) implements it, and so will the adapter of the official SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

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


class Backend(Protocol):
    """A Chariot. Every method raises only ``chariot_apply.chariot.errors`` (one error tree, mapped at the
    backend's own boundary); a write whose outcome is unknown raises ``WriteOutcomeUnknownError``."""

    #: Requests sent so far, retries included (benchmarks and tests read it).
    requests_sent: int
    #: What this backend cannot do that the tool would otherwise do, in words: every plan says it once.
    limitations: tuple[str, ...]
    #: Whether ``get_models`` lists the models that exist (promotions and retention rely on it).
    lists_models: bool

    async def aclose(self) -> None: ...

    def server_now(self) -> datetime | None:
        """The server's time now, as its last answer dated it (None: unknown; the local clock is used). Run ages
        and stalls are measured against it, so that a skewed local clock does not stop runs early."""
        ...

    # projects, blueprints, resources
    async def get_projects(self, name: str | None = None) -> list[Project]: ...
    async def find_projects(self, names: Sequence[str]) -> list[Project]:
        """The projects among ``names`` (each a name or an id) that exist: what a command names, whether or not
        the backend can list every project."""
        ...
    async def get_project_id(self, name: str) -> str: ...
    async def lookup_blueprint(self, name: str, version_ilike: str | None = None) -> Blueprint: ...
    async def lookup_blueprint_id(self, name: str, version_ilike: str | None = None) -> str: ...
    async def get_blueprint(self, blueprint_id: str) -> Blueprint: ...
    async def get_blueprints(self, names: Sequence[str] | None = None, limit: int | None = None,
                             offset: int | None = None) -> list[Blueprint]: ...
    async def get_available_system_gpus(self) -> list[SystemGpu]: ...

    # runs
    async def validate_run_config(self, *, blueprint_id: str, config: dict[str, Any]) -> None: ...
    async def create_run(self, *, name: str, version: str, resources: Resources, config: dict[str, Any],
                         task_type: str, blueprint_id: str, project_id: str, notes: str | None = None) -> str: ...
    async def get_runs(self, /, **filters: Any) -> list[Run]: ...
    async def get_run_summaries(self, /, **filters: Any) -> list[RunSummary]: ...
    def iter_runs(self, *, page_size: int = 500, **filters: Any) -> AsyncIterator[Run]: ...
    async def get_run(self, run_id: str, fields: Sequence[str] | None = None) -> Run: ...
    async def stop_run(self, run_id: str, grace_period: timedelta | None = None) -> None: ...
    async def delete_run(self, run_id: str) -> None: ...
    async def get_events(self, run_id: str, *, limit: int | None = None, offset: int | None = None,
                         sort: Sequence[str] | None = None) -> list[Event]: ...
    async def get_metrics(self, run_id: str, *, global_steps: Sequence[int] | None = None,
                          tags: Sequence[str] | None = None, limit: int = 1000,
                          created_before: datetime | None = None) -> list[Metric]: ...
    async def get_all_metrics(self, run_id: str) -> list[Metric]: ...

    # checkpoints and models
    async def get_checkpoints(self, /, **filters: Any) -> list[Checkpoint]: ...
    async def delete_checkpoints(self, *, ids: Sequence[str] | None = None,
                                 run_ids: Sequence[str] | None = None) -> None: ...
    async def download_checkpoint(self, checkpoint_id: str, file_dir: str | Path) -> list[Path]: ...
    async def create_model_from_checkpoint(self, *, checkpoint_id: str, name: str, version: str, summary: str,
                                           project_id: str | None = None) -> str: ...
    async def get_models(self, *, project_ids: Sequence[str] | None = None, names: Sequence[str] | None = None,
                         versions: Sequence[str] | None = None) -> list[Model]: ...


def matches_nothing(filters: Mapping[str, Any]) -> bool:
    """An empty list filter (``ids=[]``) matches nothing: no request is to be sent, rather than one that would
    read as "no filter at all". ``select`` and ``sort`` are not filters."""
    return any(value == [] for name, value in filters.items() if name not in ("select", "sort"))


async def runs_by_id(get_runs: Callable[..., Awaitable[list[Run]]], page_size: int,
                     filters: dict[str, Any]) -> AsyncGenerator[Run, None]:
    """Every run ``get_runs`` matches with ``filters``, page by page on the id (keyset): none missed, none repeated,
    even while runs are being created. Each backend's ``iter_runs`` is this over its own ``get_runs``."""
    from chariot_apply.chariot.errors import InvalidArgumentError

    if any(k in filters for k in ("sort", "offset", "id_after", "limit")):
        raise InvalidArgumentError("iter_runs pages by id itself: do not pass sort, offset, id_after, limit")
    after: str | None = None
    while True:
        page = await get_runs(sort=["id:asc"], limit=page_size, id_after=after, **filters)
        for run in page:
            yield run
        if len(page) < page_size:
            return
        after = page[-1].id
