"""A run's metrics as a table, CSV, JSON, or curves drawn in the terminal. Pure."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

from chariot_apply.chariot.models import Metric

CSV_COLUMNS = ("global_step", "tag", "value", "created_at", "id")


def ordered(metrics: Sequence[Metric], tags: Sequence[str] = ()) -> list[Metric]:
    """By step, then tag; only ``tags`` when given."""
    chosen = [m for m in metrics if not tags or m.tag in tags]
    return sorted(chosen, key=lambda m: (m.global_step, m.tag, m.created_at, m.id))


def render_metrics_csv(metrics: Sequence[Metric]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in metrics:
        writer.writerow([m.global_step, m.tag, "" if m.value is None else m.value, m.created_at.isoformat(), m.id])
    return out.getvalue()


def render_metrics_json(metrics: Sequence[Metric]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in metrics], indent=2) + "\n"


def render_metrics_text(metrics: Sequence[Metric]) -> str:
    """One row per step, one column per tag."""
    tags = sorted({m.tag for m in metrics})
    steps: dict[int, dict[str, float | None]] = {}
    for m in metrics:
        steps.setdefault(m.global_step, {})[m.tag] = m.value
    rows = [("STEP", *tags)] + [(str(step), *(_short(values.get(t)) for t in tags))
                                 for step, values in sorted(steps.items())]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + "\n" for row in rows)


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def plot(metrics: Sequence[Metric], width: int = 60, height: int = 12) -> str:
    """Each tag's curve over the steps, drawn with characters (for a terminal or a CI log)."""
    out = []
    for tag in sorted({m.tag for m in metrics}):
        points = sorted((m.global_step, m.value) for m in metrics if m.tag == tag and m.value is not None
                        and math.isfinite(m.value))
        if not points:
            out.append(f"{tag}: no values\n")
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        low, high = min(ys), max(ys)
        span_x, span_y = (max(xs) - min(xs)) or 1, (high - low) or 1
        grid = [[" "] * width for _ in range(height)]
        for x, y in points:
            col = round((x - min(xs)) / span_x * (width - 1))
            level = height - 1 - round((y - low) / span_y * (height - 1))
            grid[level][col] = "*"
        label = max(len(_short(high)), len(_short(low)))
        lines = [f"{tag} (step {min(xs)} to {max(xs)})"]
        for i, row in enumerate(grid):
            axis = _short(high) if i == 0 else _short(low) if i == height - 1 else ""
            lines.append(f"{axis.rjust(label)} |{''.join(row)}")
        lines.append(" " * label + " +" + "-" * width)
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)
