"""What the declared runs came to: status and duration, a leaderboard per sweep, the best run's curves, the
models promoted and the runs that failed with why. Pure: built from the manifests and what was read of Chariot
(``workflow.report``); ``render/report.py`` and ``render/report_html.py`` draw it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chariot_apply.chariot.models import FINISHED_STATUSES, Event, Metric, Model, Run
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.diagnostics.suggest import did_you_mean
from chariot_apply.manifest.model import DeclaredRun
from chariot_apply.plan.harvest import MODEL_MARKER
from chariot_apply.plan.ownership import parse_notes

Mode = Literal["min", "max"]
#: A tag is ranked by these when nothing says otherwise: the first one the runs report.
DEFAULT_RANKING: tuple[tuple[str, Mode], ...] = (
    ("metrics/mAP50-95(B)", "max"), ("metrics/mAP50(B)", "max"), ("val/accuracy", "max"),
    ("eval/accuracy", "max"), ("val/loss", "min"), ("eval/loss", "min"), ("train/loss", "min"))
#: A report draws at most this many curves, each at most this many points.
MAX_CHARTS = 4
MAX_POINTS = 50


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Curve(_Frozen):
    """One tag of a run: its points (downsampled), and its first, best and last values."""

    tag: str
    steps: tuple[int, ...]
    values: tuple[float | None, ...]
    first: float | None
    best: float | None
    last: float | None
    mode: Mode = "min"


class RunResult(_Frozen):
    address: str
    run_id: str | None
    status: str
    duration_seconds: float | None
    progress: float | None  # 0..1 of the first progress entry
    params: dict[str, Any]  # for a sweep's point: what sets it apart from the others
    score: float | None = None  # its best value of the sweep's metric: what the leaderboard ranks by
    last: float | None = None  # its value of that metric at its last logged step (what `status` shows)
    failed_reason: str | None = None
    pull_request: int | None = None  # the pull request whose merge created it (its marker)


class Promotion(_Frozen):
    address: str
    model: str  # name@version
    model_id: str
    checkpoint_id: str | None
    step: int | None


class SweepResult(_Frozen):
    name: str
    metric: str | None
    mode: Mode
    points: tuple[RunResult, ...]  # ranked, best first; those without a score last
    best: str | None  # the best point's address
    curves: tuple[Curve, ...]  # the best point's

    @property
    def done(self) -> float:
        """The share of its points that have finished."""
        return sum(1 for p in self.points if p.status in FINISHED_STATUSES) / len(self.points) if self.points else 0.0


class Report(_Frozen):
    owner: str
    generated_at: datetime
    sweeps: tuple[SweepResult, ...]
    runs: tuple[RunResult, ...]  # declared runs outside sweeps
    curves: tuple[Curve, ...]  # of a lone run's, when the report is of one run
    promotions: tuple[Promotion, ...]
    failures: tuple[RunResult, ...]

    def pull_requests(self) -> list[int]:
        """The pull requests whose merges created the runs reported."""
        return sorted({r.pull_request for r in self.everything() if r.pull_request is not None})

    def everything(self) -> list[RunResult]:
        return [*self.runs, *(p for s in self.sweeps for p in s.points)]

    def of_pull_request(self, number: int) -> Report:
        """Only the runs the merge of pull request ``number`` created (a sweep keeps its ranking and, while its
        best point is among them, its curves)."""
        sweeps = []
        for sweep in self.sweeps:
            points = tuple(p for p in sweep.points if p.pull_request == number)
            if points:
                kept = sweep.best in {p.address for p in points}
                sweeps.append(sweep.model_copy(update={"points": points, "best": sweep.best if kept else None,
                                                       "curves": sweep.curves if kept else ()}))
        runs = tuple(r for r in self.runs if r.pull_request == number)
        return self.model_copy(update={
            "sweeps": tuple(sweeps), "runs": runs, "curves": self.curves if runs == self.runs else (),
            "promotions": tuple(p for p in self.promotions if p.address in {r.address for r in runs}
                                or any(p.address in {q.address for q in s.points} for s in sweeps)),
            "failures": tuple(f for f in self.failures if f.pull_request == number)})

    def fingerprint(self) -> str:
        """What the report says, without when it was made: equal fingerprints, the same comment."""
        return self.model_copy(update={"generated_at": datetime.min}).model_dump_json()


def parse_rank_by(text: str | None) -> tuple[str, Mode] | None:
    """``metrics/mAP50(B):max`` -> (tag, mode); ``val/loss`` is min."""
    if not text:
        return None
    tag, colon, mode = text.rpartition(":")
    if not colon or "/" in mode or "(" in mode:  # a tag with a colon of its own, and no mode
        tag, mode = text, "min"
    if mode not in ("max", "min"):
        raise UserError(f"--rank-by {text!r}: {mode!r} is not a mode", code=codes.USAGE,
                        hint=f"give TAG, TAG:min or TAG:max (e.g. {tag}:max); {did_you_mean(mode, ('max', 'min'))}")
    return tag, "max" if mode == "max" else "min"


def _sweep_metric(runs: Sequence[DeclaredRun]) -> tuple[str, Mode] | None:
    """The metric a sweep's manifests rank by: a promotion's or a retention's ``best``."""
    for run in runs:
        for promotion in run.promotions:
            if promotion.checkpoint.select == "best" and promotion.checkpoint.metric:
                return promotion.checkpoint.metric, promotion.checkpoint.mode
        keep = run.spec.checkpoints.keep if run.spec.checkpoints else None
        if keep is not None and keep.best is not None:
            return keep.best.metric, keep.best.mode
    return None


def sweep_metrics(declared: Sequence[DeclaredRun]) -> dict[str, tuple[str, Mode]]:
    """The metric each sweep (``project/name``, the project as written) ranks by, where its manifests say one."""
    by_sweep: dict[str, list[DeclaredRun]] = {}
    for run in declared:
        origin = run.manifest.metadata.sweep
        if origin is not None:
            by_sweep.setdefault(f"{run.project}/{origin.name}", []).append(run)
    return {name: metric for name, runs in by_sweep.items() if (metric := _sweep_metric(runs)) is not None}


def _best(values: Iterable[float | None], mode: Mode) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def curve(tag: str, metrics: Sequence[Metric], mode: Mode = "min", points: int = MAX_POINTS) -> Curve:
    """``tag``'s series, downsampled to at most ``points`` (evenly, the last always kept)."""
    series = sorted(((m.global_step, None if m.value is None else float(m.value)) for m in metrics if m.tag == tag),
                    key=lambda sv: sv[0])
    values = [v for _, v in series]
    if len(series) > points:
        stride = (len(series) - 1) / (points - 1)
        series = [series[round(i * stride)] for i in range(points)]
    finite = [v for v in values if v is not None]
    return Curve(tag=tag, steps=tuple(s for s, _ in series), values=tuple(v for _, v in series),
                 first=finite[0] if finite else None, best=_best(values, mode), last=finite[-1] if finite else None,
                 mode=mode)


def _mode_of(tag: str) -> Mode:
    low = tag.lower()
    return "min" if "loss" in low or low.endswith("lr") else "max"


def curves_of(metrics: Sequence[Metric], metric: str | None, limit: int = MAX_CHARTS) -> tuple[Curve, ...]:
    """A run's most telling curves: the ranking metric first, then the usual ones, then others."""
    tags = sorted({m.tag for m in metrics})
    wanted = [t for t in [metric, *(t for t, _ in DEFAULT_RANKING)] if t and t in tags]
    rest = sorted((t for t in tags if t not in wanted),  # a learning-rate schedule last: it says little
                  key=lambda t: (t.endswith("/lr"), t.count("/") > 1, t.startswith("train/"), t))
    chosen = list(dict.fromkeys([*wanted, *rest]))[:limit]
    return tuple(curve(t, metrics, _mode_of(t)) for t in chosen)


def _reason(event: Event | None) -> str | None:
    reason = event.details.get("reason") if event is not None else None
    return reason if isinstance(reason, str) and reason else None


def _params(run: DeclaredRun, points: Sequence[DeclaredRun]) -> dict[str, Any]:
    """The config keys whose values differ among a sweep's points, with this point's values."""
    keys = sorted({k for p in points for k in p.spec.config})
    return {k: run.spec.config.get(k) for k in keys if len({repr(p.spec.config.get(k)) for p in points}) > 1}


@dataclass(frozen=True)
class _Read:
    """What was read of Chariot for a report: the run at each address (ours, the newest attempt), and by run id its
    metrics and last event."""

    addresses: Mapping[int, str]
    live: Mapping[str, Run]
    metrics: Mapping[str, Sequence[Metric]]
    events: Mapping[str, Event]
    now: datetime


def build_report(owner: str, declared: Sequence[DeclaredRun], addresses: Mapping[int, str],
                 live: Mapping[str, Run], metrics: Mapping[str, Sequence[Metric]], events: Mapping[str, Event],
                 models: Sequence[Model], now: datetime, rank_by: tuple[str, Mode] | None = None,
                 checkpoint_steps: Mapping[str, int] | None = None) -> Report:
    """``addresses``: each declared run's address, by its index; ``live``: the run at each address (ours, the newest
    attempt); ``metrics`` and ``events`` (the last) by run id; ``models`` with our marker, for the promotions, and
    the steps of the checkpoints they came from."""
    read = _Read(addresses, live, metrics, events, now)
    by_sweep: dict[str, list[tuple[int, DeclaredRun]]] = {}
    lone: list[tuple[int, DeclaredRun]] = []
    for index, run in enumerate(declared):
        origin = run.manifest.metadata.sweep
        (by_sweep.setdefault(f"{run.project}/{origin.name}", []) if origin else lone).append((index, run))
    sweeps = [_sweep_result(read, name, members, rank_by) for name, members in sorted(by_sweep.items())]
    runs = tuple(_run_result(read, i, r, [r], rank_by) for i, r in lone)
    lone_curves = curves_of(metrics.get(runs[0].run_id or "", ()), rank_by[0] if rank_by else None) \
        if len(runs) == 1 and not sweeps else ()
    everything = [*runs, *(p for s in sweeps for p in s.points)]
    failures = tuple(sorted((r for r in everything if r.status in ("job_failed", "job_create_failed")),
                            key=lambda r: r.address))
    return Report(owner=owner, generated_at=now, sweeps=tuple(sweeps), runs=runs, curves=lone_curves,
                  promotions=_promotions(live, models, owner, checkpoint_steps or {}), failures=failures)


def _sweep_result(read: _Read, name: str, members: Sequence[tuple[int, DeclaredRun]],
                  rank_by: tuple[str, Mode] | None) -> SweepResult:
    """A sweep's leaderboard: its points ranked by the metric (the one asked for, the sweep's own, or the first
    of ``DEFAULT_RANKING`` its runs report), and the best point's curves."""
    sweep_runs = [r for _, r in members]
    metric = rank_by or _sweep_metric(sweep_runs) or _present_metric(read.addresses, members, read.live, read.metrics)
    points = [_run_result(read, i, r, sweep_runs, metric) for i, r in members]
    mode = metric[1] if metric else "min"
    ranked = sorted(points, key=lambda p: (p.score is None, -(p.score or 0) if mode == "max" else (p.score or 0),
                                           p.address))
    best = ranked[0] if ranked and ranked[0].score is not None else None
    best_curves = curves_of(read.metrics.get(best.run_id or "", ()), metric[0] if metric else None) if best else ()
    return SweepResult(name=name, metric=metric[0] if metric else None, mode=mode, points=tuple(ranked),
                       best=best.address if best else None, curves=best_curves)


def _run_result(read: _Read, index: int, run: DeclaredRun, points: Sequence[DeclaredRun],
                metric: tuple[str, Mode] | None) -> RunResult:
    address = read.addresses[index]
    found = read.live.get(address)
    run_id = found.id if found else None
    status = (found.status or "unknown") if found else "not created"
    series = read.metrics.get(run_id or "", ())
    values = sorted(((m.global_step, None if m.value is None else float(m.value)) for m in series
                     if metric and m.tag == metric[0]), key=lambda sv: sv[0])
    score = _best((v for _, v in values), metric[1]) if metric else None
    last = next((v for _, v in reversed(values) if v is not None and math.isfinite(v)), None)
    marker = parse_notes(found.notes)[1] if found is not None else None
    failed = status in ("job_failed", "job_create_failed")
    return RunResult(address=address, run_id=run_id, status=status, duration_seconds=_duration(found, read.now),
                     progress=_progress(found), params=_params(run, points) if len(points) > 1 else {}, score=score,
                     last=last,
                     failed_reason=_reason(read.events.get(run_id or "")) if failed else None,
                     pull_request=marker.pull_request if marker is not None else None)


def _duration(found: Run | None, now: datetime) -> float | None:
    """How long the run has trained: to its end once it finished, else to ``now``."""
    if found is None or found.created_at is None:
        return None
    ended = found.status in FINISHED_STATUSES and found.status_updated_at is not None
    end = found.status_updated_at if ended and found.status_updated_at else now
    return max(0.0, (end - found.created_at).total_seconds())


def _progress(found: Run | None) -> float | None:
    if found is None or not found.progress or not found.progress[0].final_value:
        return None
    return min(1.0, float(found.progress[0].value or 0) / float(found.progress[0].final_value))


def _promotions(live: Mapping[str, Run], models: Sequence[Model], owner: str,
                checkpoint_steps: Mapping[str, int]) -> tuple[Promotion, ...]:
    """The models of ours made from the reported runs, each with the step of the checkpoint it came from."""
    by_run = {r.id: addr for addr, r in live.items() if r.id}
    return tuple(sorted((Promotion(address=by_run[run_id], model=f"{m.name}@{m.version}", model_id=m.id,
                                   checkpoint_id=m.checkpoint_id, step=checkpoint_steps.get(m.checkpoint_id or ""))
                         for m in models if (run_id := _promoted_from(m, owner)) in by_run),
                        key=lambda p: (p.address, p.model)))


def _present_metric(addresses: Mapping[int, str], members: Sequence[tuple[int, Any]],
                    live: Mapping[str, Run], metrics: Mapping[str, Sequence[Metric]]) -> tuple[str, Mode] | None:
    """The first of ``DEFAULT_RANKING`` that the sweep's runs report."""
    tags = {m.tag for i, _ in members if (r := live.get(addresses[i])) is not None for m in metrics.get(r.id or "", ())}
    return next(((t, mode) for t, mode in DEFAULT_RANKING if t in tags), None)


def _promoted_from(model: Model, owner: str) -> str | None:
    """The run a model of ours was made from (its summary's marker)."""
    found = MODEL_MARKER.search(model.summary or "")
    return found["run"] if found is not None and found["owner"] == owner else None
