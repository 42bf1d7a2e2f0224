"""A blocking facade over ``AsyncChariotClient`` for scripts: same operations, same errors, same types."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.chariot.models import Run

P = ParamSpec("P")
T = TypeVar("T")


def _blocking(method: Callable[Concatenate[AsyncChariotClient, P], Coroutine[Any, Any, T]],
              ) -> Callable[Concatenate[ChariotClient, P], T]:
    """The async ``method``, run to completion on the facade's own loop (its signature kept for type-checking)."""

    def call(self: ChariotClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._client, *args, **kwargs))

    call.__name__, call.__doc__ = method.__name__, method.__doc__
    return call


class ChariotClient:
    """``ChariotClient(AsyncChariotClient(...)).get_runs(limit=5)``: every async operation, blocking.

    Owns a private event loop; not for use inside a running loop.
    """

    def __init__(self, client: AsyncChariotClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    @property
    def base_url(self) -> str:
        return self._client.base_url

    get_projects = _blocking(AsyncChariotClient.get_projects)
    get_project_id = _blocking(AsyncChariotClient.get_project_id)
    get_available_system_gpus = _blocking(AsyncChariotClient.get_available_system_gpus)
    get_models = _blocking(AsyncChariotClient.get_models)
    lookup_blueprint = _blocking(AsyncChariotClient.lookup_blueprint)
    lookup_blueprint_id = _blocking(AsyncChariotClient.lookup_blueprint_id)
    get_blueprint = _blocking(AsyncChariotClient.get_blueprint)
    get_blueprints = _blocking(AsyncChariotClient.get_blueprints)
    validate_run_config = _blocking(AsyncChariotClient.validate_run_config)
    create_run = _blocking(AsyncChariotClient.create_run)
    get_runs = _blocking(AsyncChariotClient.get_runs)
    get_run = _blocking(AsyncChariotClient.get_run)
    reload = _blocking(AsyncChariotClient.reload)
    stop_run = _blocking(AsyncChariotClient.stop_run)
    delete_run = _blocking(AsyncChariotClient.delete_run)
    get_events = _blocking(AsyncChariotClient.get_events)
    get_metrics = _blocking(AsyncChariotClient.get_metrics)
    get_all_metrics = _blocking(AsyncChariotClient.get_all_metrics)
    get_global_steps_with_checkpoints = _blocking(AsyncChariotClient.get_global_steps_with_checkpoints)
    get_checkpoints = _blocking(AsyncChariotClient.get_checkpoints)
    delete_checkpoints = _blocking(AsyncChariotClient.delete_checkpoints)
    download_checkpoint = _blocking(AsyncChariotClient.download_checkpoint)
    create_model_from_checkpoint = _blocking(AsyncChariotClient.create_model_from_checkpoint)

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
