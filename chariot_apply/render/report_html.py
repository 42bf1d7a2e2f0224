"""The results report as one self-contained HTML file: tables and inline SVG charts, no script and nothing fetched
from elsewhere, for a CI job to upload as an artifact. Pure."""

from __future__ import annotations

import html
import math

from chariot_apply.render.report import number, params_text, ranking_words, status_counts
from chariot_apply.render.status import age
from chariot_apply.reports.results import Curve, Report

WIDTH, HEIGHT, PAD = 560, 220, 36
LEFT = 64  # room for the y labels, right-aligned clear of the axis
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}svg{background:#fafafa;border:1px solid #ddd;margin:4px}
.series{fill:none;stroke:#6b3fa0;stroke-width:2}.axis{stroke:#888;stroke-width:1}text{font-size:11px;fill:#444}"""


def svg(c: Curve) -> str:
    """A line chart of one curve, with its axes' ends labelled; nulls are gaps."""
    points = [(s, v) for s, v in zip(c.steps, c.values, strict=True) if v is not None and math.isfinite(v)]
    if not points:
        return ""
    x0, x1 = min(s for s, _ in points), max(s for s, _ in points)
    y0, y1 = min(v for _, v in points), max(v for _, v in points)
    xs, ys = (x1 - x0) or 1, (y1 - y0) or 1.0

    def at(step: int, value: float) -> str:
        x = LEFT + (step - x0) / xs * (WIDTH - LEFT - PAD)
        y = HEIGHT - PAD - (value - y0) / ys * (HEIGHT - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(at(s, v) for s, v in points)
    tag = html.escape(c.tag)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-label="{tag}" data-tag="{tag}" data-points="{len(points)}">'
            f'<title>{tag}</title><text x="{PAD}" y="16">{tag}</text>'
            f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>'
            f'<line class="axis" x1="{LEFT}" y1="{PAD}" x2="{LEFT}" y2="{HEIGHT - PAD}"/>'
            f'<text x="{LEFT}" y="{HEIGHT - 8}">{x0}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{x1}</text>'
            f'<text x="{LEFT - 6}" y="{HEIGHT - PAD - 2}" text-anchor="end">{number(y0)}</text>'
            f'<text x="{LEFT - 6}" y="{PAD + 4}" text-anchor="end">{number(y1)}</text>'
            f'<polyline class="series" points="{line}"/></svg>')


def render_report_html(report: Report, title: str = "chariot-apply results") -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{STYLE}</style>"
             f"</head><body><h1>{e(title)}</h1><p>Owner {e(report.owner)} · "
             f"{e(report.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p><p><b>{e(status_counts(report))}</b></p>"]
    for p in report.promotions:
        parts.append(f"<p>Promoted <b>{e(p.model)}</b> ← checkpoint step {p.step if p.step is not None else '?'} of "
                     f"<code>{e(p.address)}</code></p>")
    for sweep in report.sweeps:
        name = e(sweep.metric or "score")
        parts.append(f"<h2>Sweep {e(sweep.name)}</h2><p>ranked by {e(ranking_words(sweep))}</p><table><tr>"
                     f"<th>#</th><th>run</th><th>parameters</th><th>{name} best</th><th>{name} last</th>"
                     "<th>status</th><th>duration</th></tr>")
        for rank, point in enumerate(sweep.points, 1):
            parts.append(f"<tr><td>{rank}</td><td><code>{e(point.address)}</code></td><td>{e(params_text(point))}"
                         f"</td><td>{number(point.score)}</td><td>{number(point.last)}</td><td>{e(point.status)}</td>"
                         f"<td>{age(point.duration_seconds)}</td></tr>")
        parts.append("</table>")
        if sweep.curves:
            parts.append(f"<h3>Curves of {e(sweep.best or '')}</h3>" + "".join(svg(c) for c in sweep.curves))
    if report.runs:
        parts.append("<h2>Runs</h2><table><tr><th>run</th><th>status</th><th>duration</th></tr>" + "".join(
            f"<tr><td><code>{e(r.address)}</code></td><td>{e(r.status)}</td><td>{age(r.duration_seconds)}</td></tr>"
            for r in report.runs) + "</table>")
        parts.append("".join(svg(c) for c in report.curves))
    if report.failures:
        parts.append("<h2>Failed</h2><ul>" + "".join(
            f"<li><code>{e(r.address)}</code>: {e(r.failed_reason or r.status)}</li>" for r in report.failures)
            + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
