"""When and how long to wait before repeating a request that is safe to repeat."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; applies to reads (and side-effect-free POSTs) only."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (0-based)."""
        return self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

