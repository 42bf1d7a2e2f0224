"""What the server sends back about a run passes the same redaction as the plan: a metric's tag, an event's
details, the run's notes can each carry a config value the manifest declared secret (a blueprint that names its
metrics after a config value, a failure message quoting one). The secret values are the run's own: its live
config under secret-looking keys and under the paths its marker lists as ``sensitive``. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chariot_apply.chariot.models import Event, Metric, Run
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.plan.sensitive import scrub_spellings, secret_spellings

Scrub = Callable[[str], str]


def scrubber(run: Run) -> Scrub:
    """``text`` with every secret value of ``run`` replaced by ``(sensitive)``."""
    _, marker = parse_notes(run.notes)
    sensitive = marker.secret if marker is not None else ()
    spellings = secret_spellings(run.config or {}, sensitive)  # once a run, for all its tags and events
    if not spellings:
        return _unchanged
    return lambda text: scrub_spellings(text, spellings)


def _unchanged(text: str) -> str:
    return text


def scrubbed_metrics(metrics: Iterable[Metric], clean: Scrub) -> list[Metric]:
    if clean is _unchanged:
        return list(metrics)
    return [m if (tag := clean(m.tag)) == m.tag else m.model_copy(update={"tag": tag}) for m in metrics]


def scrubbed_event(event: Event, clean: Scrub) -> Event:
    if clean is _unchanged:
        return event
    return event.model_copy(update={"details": _strings(event.details, clean), "status": clean(event.status)})


def scrubbed_run(run: Run, clean: Scrub) -> Run:
    """The run with its notes scrubbed (its config is redacted where it is shown, by key)."""
    if clean is _unchanged or not run.notes:
        return run
    return run.model_copy(update={"notes": clean(run.notes)})


def _strings(value: Any, clean: Scrub) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _strings(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, clean) for v in value]
    return value
