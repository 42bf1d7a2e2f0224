"""``asyncio.run`` for the command line and the Action, minus a costly quirk of Python 3.11.

``asyncio.Runner`` installs ``functools.partial(on_sigint, main_task=task)`` as the SIGINT handler, and on the way
out ``signal.getsignal`` tries to match it against the ``Handlers`` enum, whose failure message reprs the partial,
the main task and so the task's *result*. For a plan of 1,000 runs that repr took ~45 ms, twice. The result is
handed back outside the main task instead, so the task's repr stays one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(awaitable: Coroutine[Any, Any, T]) -> T:
    results: list[T] = []

    async def main() -> None:
        results.append(await awaitable)

    asyncio.run(main())
    return results[0]
