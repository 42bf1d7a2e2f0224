"""No cyclic garbage collection while a plan builds a large, long-lived heap.

A plan parses every run of the involved projects (10,000 runs: some 300,000 container objects) and keeps them
to the end. With CPython's default thresholds, full collections walk that growing heap again and again (a third
of a plan's CPU time in ``bench/plan_bench.py``); with raised thresholds each young collection still walks
100,000 objects (~35 ms), several times. Inside the block the collector is off; it runs again afterwards, once.
Nearly everything is freed by reference counting in the meantime.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Within the block, no collections; afterwards, the collector as it was (a nested block leaves it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
