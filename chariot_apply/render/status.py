"""The runs we manage, as a table or a JSON document (``schemas/status.schema.json``). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chariot_apply.chariot.models import FINISHED_STATUSES
from chariot_apply.plan.ownership import parse_notes
from chariot_apply.reports.results import DEFAULT_RANKING
from chariot_apply.reports.run_view import RunView

STATUS_FORMAT_VERSION: Literal[1] = 1
BAR = 20


class ProgressLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    operation: str | None
    value: float | None
    final_value: float | None
    units: str | None


class EventLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sequence: int
    status: str
    created_at: datetime
    details: dict[str, Any]


class RunStatusLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    address: str
    id: str
    status: str | None
    status_updated_at: datetime | None
    created_at: datetime | None
    age_seconds: float | None
    progress: tuple[ProgressLine, ...]
    last_event: EventLine | None
    metrics: dict[str, float | None]  # the latest value of each tag
    gpu: str | None = None  # "2x A100", what it asks for
    sweep: str | None = None  # project/sweep it is a point of (its marker)


class SweepStatus(BaseModel):
    """A sweep's points, how many finished, and the best so far by its metric (their latest values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    points: int
    finished: int
    metric: str | None
    mode: Literal["min", "max"]
    best: str | None
    best_value: float | None


class GpuUse(BaseModel):
    """GPUs our active runs hold (running) and wait for (pending), by type."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    in_use: dict[str, int]
    pending: dict[str, int]


class StatusDocument(BaseModel):
    """What ``chariot-apply status --format json`` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="chariot-apply status")
    format_version: Literal[1] = STATUS_FORMAT_VERSION
    owner: str
    projects: tuple[str, ...]
    runs: tuple[RunStatusLine, ...]
    gpus: GpuUse = GpuUse(in_use={}, pending={})
    sweeps: tuple[SweepStatus, ...] = ()


#: Statuses in which a run waits for its GPUs (asked for, not held yet).
WAITING_FOR_GPUS = frozenset({"run_created", "job_created", "job_submitted", "job_pending"})


def status_document(views: Iterable[RunView], owner: str, projects: Iterable[str], now: datetime,
                    sweep_metrics: Mapping[str, tuple[str, Literal["min", "max"]]] | None = None) -> StatusDocument:
    """``sweep_metrics``: the metric each sweep (``project/name``) ranks by, from its manifests."""
    lines = []
    held: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for view in views:
        run, event = view.run, view.last_event
        gpu = run.resources.gpu if run.resources is not None else None
        if gpu is not None and run.status in WAITING_FOR_GPUS:
            waiting[gpu.type] += gpu.count
        elif gpu is not None and run.status not in FINISHED_STATUSES:
            held[gpu.type] += gpu.count
        lines.append(RunStatusLine(
            address=view.address, id=run.id or "", status=run.status, status_updated_at=run.status_updated_at,
            created_at=run.created_at,
            age_seconds=round((now - run.created_at).total_seconds(), 3) if run.created_at else None,
            progress=tuple(ProgressLine(operation=p.operation, value=p.value, final_value=p.final_value,
                                        units=p.units) for p in run.progress or ()),
            last_event=EventLine(sequence=event.sequence, status=event.status, created_at=event.created_at,
                                 details=event.details) if event else None,
            metrics={tag: None if value is None else float(value) for tag, value in view.metrics.items()},
            gpu=f"{gpu.count}x {gpu.type}" if gpu is not None else None, sweep=_sweep_of(view)))
    return StatusDocument(owner=owner, projects=tuple(sorted(projects)),
                          runs=tuple(sorted(lines, key=lambda line: (line.sweep or "", line.address, line.id))),
                          gpus=GpuUse(in_use=dict(sorted(held.items())), pending=dict(sorted(waiting.items()))),
                          sweeps=_sweeps(lines, sweep_metrics or {}))


def _sweep_of(view: RunView) -> str | None:
    marker = parse_notes(view.run.notes)[1]
    return f"{view.project}/{marker.sweep}" if marker is not None and marker.sweep else None


def _sweeps(lines: Iterable[RunStatusLine],
            metrics: Mapping[str, tuple[str, Literal["min", "max"]]]) -> tuple[SweepStatus, ...]:
    grouped: dict[str, list[RunStatusLine]] = {}
    for line in lines:
        if line.sweep:
            grouped.setdefault(line.sweep, []).append(line)
    found = []
    for name, points in sorted(grouped.items()):
        metric, mode = metrics.get(name) or _usual_metric(points)
        scored = [(p.metrics[metric], p.address) for p in points
                  if metric and isinstance(p.metrics.get(metric), float | int)]
        best = (max if mode == "max" else min)(scored) if scored else None
        found.append(SweepStatus(name=name, points=len(points),
                                 finished=sum(1 for p in points if p.status in FINISHED_STATUSES),
                                 metric=metric or None, mode=mode, best=best[1] if best else None,
                                 best_value=float(best[0]) if best and best[0] is not None else None))
    return tuple(found)


def _usual_metric(points: Iterable[RunStatusLine]) -> tuple[str, Literal["min", "max"]]:
    tags = {t for p in points for t in p.metrics}
    return next(((t, m) for t, m in DEFAULT_RANKING if t in tags), ("", "min"))


def render_status_json(document: StatusDocument) -> str:
    return document.model_dump_json(indent=2) + "\n"


def render_status_text(document: StatusDocument) -> str:
    if not document.runs:
        return f"No runs owned by {document.owner!r} in {', '.join(document.projects)}.\n"
    rows = [("RUN", "STATUS", "PROGRESS", "AGE", "LAST EVENT", "METRICS")]
    for line in document.runs:
        rows.append((line.address, line.status or "?", progress_bar(line.progress), age(line.age_seconds),
                     last_event(line.last_event), headline_metrics(line.metrics)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
                    for row in rows)
    for sweep in document.sweeps:
        best = (f"; best so far {sweep.best} ({sweep.metric} {number(sweep.best_value)})" if sweep.best
                else "")
        table += (f"sweep {sweep.name}: {sweep.finished} of {sweep.points} finished "
                  f"({100 * sweep.finished // max(1, sweep.points)} %){best}\n")
    gpus = document.gpus
    if not gpus.in_use and not gpus.pending:
        return table
    held = ", ".join(f"{n} {t}" for t, n in gpus.in_use.items()) or "none"
    waiting = ", ".join(f"{n} {t}" for t, n in gpus.pending.items()) or "none"
    return table + f"\nGPUs in use: {held}; waiting for GPUs: {waiting}\n"


#: How many metric tags a table row shows (JSON has them all).
HEADLINE_TAGS = 3


def last_event(event: EventLine | None) -> str:
    """The last event's status, and its reason where it gives one (why a run waits or failed)."""
    if event is None:
        return "-"
    reason = event.details.get("reason")
    return f"{event.status}: {reason}" if isinstance(reason, str) and reason else event.status


def headline_metrics(metrics: dict[str, float | None]) -> str:
    """A few tags for a table row: overall ones (``metrics/mAP50(B)``, ``val/loss``) before per-dataset ones
    (``<snapshot>/<split>/...``), validation before training; ``+N more`` for the rest."""
    def rank(tag: str) -> tuple[int, int, str]:
        return (tag.count("/") > 1, tag.startswith("train/"), tag)

    tags = sorted(metrics, key=rank)
    shown = " ".join(f"{tag}={number(metrics[tag])}" for tag in tags[:HEADLINE_TAGS])
    more = len(tags) - HEADLINE_TAGS
    return (shown + (f" +{more} more" if more > 0 else "")) or "-"


def progress_bar(progress: tuple[ProgressLine, ...]) -> str:
    """``[#######.............] 35/100 steps`` from the run's first operation (training), then the others it
    reports at once (``Evaluating 4/10 batches``)."""
    if not progress:
        return "-"
    p, *others = progress
    if p.value is None or not p.final_value:
        bar = f"{number(p.value)} {p.units or ''}".strip()
    else:
        filled = max(0, min(BAR, round(BAR * p.value / p.final_value)))
        bar = f"[{'#' * filled}{'.' * (BAR - filled)}] {number(p.value)}/{number(p.final_value)} {p.units or ''}"
    extra = (f"{o.operation or '?'} {number(o.value)}/{number(o.final_value)} {o.units or ''}".strip() for o in others)
    return ", ".join([bar.rstrip(), *extra])


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def number(value: float | None) -> str:
    if value is None:
        return "null"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def status_json_schema() -> dict[str, Any]:
    schema = StatusDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://chariot-apply.dev/schemas/status.schema.json", **schema}
