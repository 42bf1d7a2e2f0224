"""The results report as markdown (for the pull request: Mermaid ``xychart-beta`` charts, with a text fallback in
``<details>`` for readers without Mermaid), text and JSON. Pure. Over a character limit, the summary and the
leaderboards come first and the rest is cut with a note."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import yaml

from chariot_apply.render.status import age
from chariot_apply.reports.results import Curve, Report, RunResult, SweepResult

SPARKS = "▁▂▃▄▅▆▇█"


def number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


def sparkline(values: Sequence[float | None]) -> str:
    """``▇▆▅▃▂▁``: each value's height between the series' lowest and highest; a gap for a null."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(" " if v is None or not math.isfinite(v) else SPARKS[round((v - low) / span * (len(SPARKS) - 1))]
                   for v in values)


def curve_line(c: Curve) -> str:
    return f"{c.tag}  {sparkline(c.values)}  first {number(c.first)} · best {number(c.best)} · last {number(c.last)}"


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


#: Values a chart draws: enough for a curve's shape, few enough for the comment.
CHART_POINTS = 40


def mermaid(c: Curve, title: str) -> str:
    """One ``xychart-beta`` block: the steps as a numeric x axis (Mermaid picks and spaces its ticks, so labels never
    run together at any size), the values resampled at evenly spaced steps (nulls left out) as a line."""
    points = [(s, v) for s, v in zip(c.steps, c.values, strict=True) if v is not None and math.isfinite(v)]
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    if high == low:
        high = low + 1.0
    first, last = points[0][0], points[-1][0]
    values = [v for _, v in points] if last == first else \
        [_at(points, first + (last - first) * i / (CHART_POINTS - 1)) for i in range(CHART_POINTS)]
    lines = ["```mermaid", "xychart-beta", f"    title {_quote(title)}",
             f"    x-axis {_quote('step')} {first} --> {max(last, first + 1)}",
             f"    y-axis {_quote(c.tag)} {low:.6g} --> {high:.6g}",
             f"    line [{', '.join(f'{v:.6g}' for v in values)}]", "```"]
    return "\n".join(lines)


def _at(points: Sequence[tuple[int, float]], step: float) -> float:
    """The curve's value at ``step``, on the straight line between the logged steps around it."""
    for (s0, v0), (s1, v1) in itertools.pairwise(points):
        if s0 <= step <= s1:
            return v0 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0)
    return points[-1][1]


def status_counts(report: Report) -> str:
    everything = [*report.runs, *(p for s in report.sweeps for p in s.points)]
    counts: dict[str, int] = {}
    for r in everything:
        counts[r.status] = counts.get(r.status, 0) + 1
    return f"{len(everything)} run(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def params_text(point: RunResult) -> str:
    """A point's parameters as YAML writes them (``optimizer={name: adam}``, ``amp=true``), not Python's reprs."""
    return ", ".join(f"{k}={yaml_scalar(v)}" for k, v in point.params.items()) or "-"


def yaml_scalar(value: Any) -> str:
    if isinstance(value, str) and value and not any(c in value for c in ":{}[],#&*!|>'\"%@`") \
            and value.strip() == value and yaml.safe_load(value) == value:
        return value
    return str(yaml.safe_dump(value, default_flow_style=True, width=10**6)).removesuffix("\n...\n").strip()


def ranking_words(sweep: SweepResult) -> str:
    """``val/loss (min: the best value of each run; last: at its last step)``: which value ranks, said."""
    if not sweep.metric:
        return "no metric"
    return f"{sweep.metric} ({sweep.mode}: each run's best value ranks it; last: its value at its last step)"


def _leaderboard(sweep: SweepResult, rows: int | None = None) -> list[str]:
    finished = round(sweep.done * len(sweep.points))
    name = sweep.metric or "score"
    lines = [f"#### Sweep `{sweep.name}`: {finished} of {len(sweep.points)} finished, ranked by "
             f"{ranking_words(sweep)}", "",
             f"| # | run | parameters | {name} best | {name} last | status | duration |",
             "|---:|---|---|---:|---:|---|---:|"]
    shown = sweep.points if rows is None else sweep.points[:rows]
    for rank, point in enumerate(shown, 1):
        lines.append(f"| {rank} | `{point.address}` | {params_text(point)} | {number(point.score)} | "
                     f"{number(point.last)} | {point.status} | {age(point.duration_seconds)} |")
    if rows is not None and len(sweep.points) > rows:
        lines.append(f"| | _{len(sweep.points) - rows} more point(s) cut to fit_ | | | | | |")
    if sweep.best:
        best = sweep.points[0]
        lines += ["", f"**Best**: `{sweep.best}` ({params_text(best)}): {sweep.metric} {number(best.score)} at its "
                      f"best, {number(best.last)} at its last step"]
    return [*lines, ""]


def _curves_markdown(title: str, curves: Sequence[Curve], budget: int) -> list[str]:
    charts = [mermaid(c, f"{c.tag} of {title}") for c in curves[:budget] if any(v is not None for v in c.values)]
    fallback = ["<details><summary>Curves as text</summary>", "", "```", *(curve_line(c) for c in curves), "```",
                "", "</details>", ""]
    return [*charts, "", *fallback] if charts else fallback


def render_report_markdown(report: Report, *, title: str = "chariot-apply results", limit: int | None = None,
                           full_report_at: str = "the job's step summary") -> str:
    """Summary, leaderboards, promotions and failures first; then the curves; cut to ``limit`` characters."""
    head = [f"### {title}", "", f"**{status_counts(report)}**", ""]
    if report.promotions:
        head += ["Promoted: " + ", ".join(f"**{p.model}** ← checkpoint step {p.step if p.step is not None else '?'} "
                                          f"of `{p.address}`" for p in report.promotions), ""]
    boards = [line for s in report.sweeps for line in _leaderboard(s)]
    lone = []
    if report.runs:
        lone = ["| run | status | duration | progress |", "|---|---|---:|---:|"] + [
            f"| `{r.address}` | {r.status} | {age(r.duration_seconds)} | "
            f"{'-' if r.progress is None else f'{100 * r.progress:.0f} %'} |" for r in report.runs] + [""]
    failed = ["#### Failed", ""] + [f"- `{r.address}`: {r.failed_reason or r.status}" for r in report.failures] + [""] \
        if report.failures else []
    charts: list[str] = []
    budget = 4
    for sweep in report.sweeps:
        if sweep.curves and budget > 0:
            charts += [f"#### Curves of `{sweep.best}`", "", *_curves_markdown(sweep.best or "", sweep.curves, budget)]
            budget -= min(budget, len(sweep.curves))
    if report.curves and budget > 0:
        lone_address = report.runs[0].address
        charts += [f"#### Curves of `{lone_address}`", "", *_curves_markdown(lone_address, report.curves, budget)]
    text = "\n".join([*head, *boards, *lone, *failed, *charts]).rstrip() + "\n"
    if limit is None or len(text) <= limit:
        return text
    note = f"\n_The report was cut to fit; the full report is in {full_report_at}._\n"
    rows = max(1, (limit - len("\n".join(head)) - len(note)) // max(1, 160 * max(1, len(report.sweeps))))
    boards = [line for s in report.sweeps for line in _leaderboard(s, rows)]
    kept = "\n".join([*head, *boards]).rstrip() + "\n"
    for section in (failed, lone, charts):
        block = "\n".join(section).rstrip() + "\n" if section else ""
        if block and len(kept) + len(block) + len(note) <= limit:
            kept += "\n" + block
    if len(kept) + len(note) > limit:
        kept = kept[: limit - len(note) - 1]
    return kept + note


def render_report_text(report: Report) -> str:
    lines = [status_counts(report), ""]
    for sweep in report.sweeps:
        lines.append(f"sweep {sweep.name}: ranked by {ranking_words(sweep)}")
        for rank, point in enumerate(sweep.points, 1):
            lines.append(f"  {rank:>3}. {point.address}  {params_text(point)}  best {number(point.score)}  "
                         f"last {number(point.last)}  {point.status}  {age(point.duration_seconds)}")
        lines += [f"    {curve_line(c)}" for c in sweep.curves] + [""]
    for run in report.runs:
        lines.append(f"{run.address}  {run.status}  {age(run.duration_seconds)}")
    lines += [f"    {curve_line(c)}" for c in report.curves]
    lines += [f"promoted {p.model} <- checkpoint step {p.step if p.step is not None else '?'} of {p.address}"
              for p in report.promotions]
    lines += [f"failed {r.address}: {r.failed_reason or r.status}" for r in report.failures]
    return "\n".join(lines).rstrip() + "\n"


def render_report_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"
