"""No cyclic garbage collection while a plan builds a large, long-lived heap, and none of it walked afterwards.

A plan parses every run of the involved projects (10,000 runs: some 200,000 container objects) and keeps them to
the end. With CPython's default thresholds, full collections walk that growing heap again and again (a third of a
plan's CPU time in ``bench/plan_bench.py``); with raised thresholds each young collection still walks a large
share of it, several times; with the collector merely paused, the first collection after the block walks
everything the block made. So: off inside the block, and on the way out what exists is frozen (moved to
the permanent generation, never walked again) before the collector is switched back on.

Objects are still freed by reference counting, frozen or not. What freezing costs is the cycles made inside the
block: they are never reclaimed, which is why the client never leaves a response in a cycle with its stream
(``AsyncChariotClient._send``): what is left is asyncio's own, small and bounded per plan.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Within the block, no collections; afterwards, nothing that exists then is ever walked by one."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:  # a nested block leaves this to the outermost one
            gc.freeze()
            gc.enable()
