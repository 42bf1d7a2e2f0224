"""``asyncio.run`` for the command line and the Action (the entry points of a process), minus a costly quirk of
Python 3.11, and with the process's garbage-collection policy for commands that build a plan.

``asyncio.Runner`` installs ``functools.partial(on_sigint, main_task=task)`` as the SIGINT handler, and on the way
out ``signal.getsignal`` tries to match it against the ``Handlers`` enum, whose failure message reprs the partial,
the main task and so the task's *result*. For a large plan that repr is a large string, built twice. The result is
handed back outside the main task instead, so the task's repr stays one line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from chariot_apply.runtime.gcpolicy import bulk_allocation

T = TypeVar("T")


def run(awaitable: Coroutine[Any, Any, T], *, bulk_heap: bool = False, timeout: float | None = None) -> T:
    """``bulk_heap``: the coroutine builds a large heap that lives to the end of the process (a plan): no
    collections while it runs, and what it made is frozen (``gcpolicy``). Only an entry point may decide that for
    its process; a library call never does. ``timeout``: cancelled after that many seconds (``TimeoutError``),
    whatever it is waiting for: a server that trickles an answer byte by byte is bounded too."""
    results: list[T] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(_quiet_about_expected_failures)
        async with asyncio.timeout(timeout):
            results.append(await awaitable)

    with bulk_allocation() if bulk_heap else contextlib.nullcontext():
        asyncio.run(main())
    return results[0]


def _quiet_about_expected_failures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A request left behind (a page past the end, a look-up after a failure) that failed the way requests fail
    (the server gone, a refusal) is no news: the command has said what went wrong, once, without a traceback.
    Anything else is reported as asyncio would."""
    from chariot_apply.diagnostics.errors import UserError

    if isinstance(context.get("exception"), UserError | OSError):
        return
    loop.default_exception_handler(context)
