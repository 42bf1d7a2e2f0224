"""Why a run failed, as a cause a retry rule can name (``onFailure.retryOn``/``except``): read from its last event,
its status and details. Chariot documents no field for the cause (an event has a status and free ``details``), so
the words of the reason decide; a ``cause`` in the details, where a blueprint or the platform gives one, wins. Pure.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from chariot_apply.chariot.models import Event
from chariot_apply.manifest.model import FailureCause as Cause

CAUSES: tuple[str, ...] = get_args(Cause)

#: The words of a reason, first match wins: a divergence is the training's, never retried by default in a sweep.
_WORDS: tuple[tuple[Cause, re.Pattern[str]], ...] = (
    ("diverged", re.compile(r"diverg|not a number|\bnan\b|loss is inf", re.I)),
    ("out_of_memory", re.compile(r"out of memory|\boom\b|oomkilled|memoryerror", re.I)),
    ("preempted", re.compile(r"preempt|spot (instance )?(was )?reclaim|evicted", re.I)),
    ("timeout", re.compile(r"timed? ?out|deadline|time limit", re.I)),
    ("configuration", re.compile(r"start_model|does not exist|invalid config|no such dataset", re.I)),
    ("infrastructure", re.compile(r"node|infrastructure|image pull|network|unreachable|hardware|gpu (fell|error)"
                                  r"|xid|nccl|disk", re.I)),
)


def cause_of(event: Event | None) -> Cause:
    """The cause of a failure, from the run's last event (None: it left none)."""
    if event is None:
        return "unknown"
    details: dict[str, Any] = event.details if isinstance(event.details, dict) else {}
    given = details.get("cause")
    if isinstance(given, str) and given in CAUSES:
        return given  # type: ignore[return-value]  # checked against CAUSES
    if details.get("exit_code") == 137:
        return "out_of_memory"
    reason = " ".join(str(v) for k, v in sorted(details.items()) if isinstance(v, str))
    for cause, words in _WORDS:
        if words.search(reason):
            return cause
    return "unknown"
