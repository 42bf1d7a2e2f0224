"""Fewer garbage collections while a plan builds a large, long-lived heap.

A plan parses every run of the involved projects (10,000 runs: some 300,000 container objects) and keeps them
to the end. CPython's default thresholds then run a full collection each time the heap has grown by a quarter,
and each one walks every object again: a third of a plan's CPU time in ``bench/plan_bench.py``. The objects
are freed by reference counting; cycles are rare and wait until the block ends. mypy does the same.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Youngest generation collected every 100,000 net allocations instead of 700; older ones less often too.
BULK_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Within the block, collect rarely; afterwards, the thresholds as they were (nesting keeps the outer's)."""
    before = gc.get_threshold()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
