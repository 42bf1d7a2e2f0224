"""Concurrency for every layer: a bound on requests in flight, and gathering that never leaves work half-done.

Two rules run through it: nothing in flight is cancelled because another request failed (a cancelled write leaves
its outcome unknown), and a coroutine that never started is closed, not left for Python to warn about.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class Bounded:
    """At most ``limit`` requests in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)
        self._detached: set[asyncio.Future[Any]] = set()

    def detach(self, requests: Iterable[asyncio.Future[Any]]) -> None:
        """Requests whose answers no longer matter (pages past the end of a listing): they finish while the caller
        goes on, and ``settle_detached`` waits for them before the client may close."""
        self._detached.update(requests)

    async def settle_detached(self) -> None:
        """Wait for the detached requests, whatever they answer (cancelled: they are cancelled too)."""
        detached, self._detached = self._detached, set()
        if detached:
            await asyncio.gather(*detached, return_exceptions=True)

    async def __call__(self, awaitable: Awaitable[T]) -> T:
        try:
            async with self._semaphore:
                return await awaitable
        finally:  # cancelled (Ctrl-C) while waiting for its turn: it never started
            close_unstarted([awaitable])

    async def all(self, awaitables: Iterable[Awaitable[T]]) -> list[T]:
        """Every result, in order; or the first failure, raised once the requests in flight have ended.

        After a failure nothing new starts, and nothing in flight is cancelled: a cancelled connection attempt
        leaves coroutines never awaited inside httpcore/anyio, and a cancelled write leaves its outcome unknown.
        """
        failures: list[Exception] = []

        async def guarded(awaitable: Awaitable[T]) -> T | None:
            try:
                async with self._semaphore:
                    if failures:
                        return None
                    try:
                        return await awaitable
                    except Exception as exc:
                        failures.append(exc)
                        return None
            finally:  # after a failure, or cancelled while waiting its turn: it never started
                close_unstarted([awaitable])

        pending = list(awaitables)
        try:
            results = await asyncio.gather(*(guarded(a) for a in pending))
        except BaseException:  # cancelled (Ctrl-C): the ones whose turn never came
            close_unstarted(pending)
            raise
        if failures:
            raise failures[0]
        return cast(list[T], results)


def close_unstarted(awaitables: Iterable[Awaitable[Any]]) -> None:
    """Close the coroutines among ``awaitables`` that never started: Python would warn, at exit, that each
    "was never awaited" (seen after Ctrl-C, and after a failure stopped the rest)."""
    for awaitable in awaitables:
        if inspect.iscoroutine(awaitable) and inspect.getcoroutinestate(awaitable) == inspect.CORO_CREATED:
            awaitable.close()


async def settled(*awaitables: Awaitable[Any]) -> list[Any]:
    """``asyncio.gather`` that lets every awaitable end before it raises the first failure: nothing is left
    running against a client that is about to close (and then cancelled half-connected)."""
    try:
        results = await asyncio.gather(*awaitables, return_exceptions=True)
    except BaseException:
        close_unstarted(awaitables)
        raise
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
