"""A blocking facade over ``AsyncChariotClient`` for scripts: same operations, same errors."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from chariot_apply.chariot.client import AsyncChariotClient
from chariot_apply.chariot.models import Run


class ChariotClient:
    """``ChariotClient(AsyncChariotClient(...)).get_runs(limit=5)``: every async operation, blocking.

    Owns a private event loop; not for use inside a running loop.
    """

    def __init__(self, client: AsyncChariotClient) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        attr = getattr(self._client, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(attr(*args, **kwargs))

        return call

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

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        self._run(self._client.aclose())
        self._loop.close()

    def __enter__(self) -> ChariotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
