"""``chariot-apply report``: what the declared runs came to, where the review happened."""

from __future__ import annotations

from pathlib import Path

import click

from chariot_apply.cli.common import command, complete_address, files_option, open_workspace, run
from chariot_apply.render.report import render_report_json, render_report_markdown, render_report_text
from chariot_apply.render.report_html import render_report_html
from chariot_apply.usecases import reporting


@command()
@files_option
@click.option("--target", multiple=True, shell_complete=complete_address,
              help="Only these addresses (project/name@version, globs): a sweep is name-glob of its points.")
@click.option("--exclude", multiple=True, shell_complete=complete_address, help="Not these addresses (globs).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "text", "json", "html"]), default="text",
              show_default=True, help="html: one self-contained file (inline SVG), for an artifact.")
@click.option("--rank-by", metavar="TAG[:max|min]",
              help="Rank sweep points by this metric (default: the sweep's promote or keep metric).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the report here.")
@click.pass_context
def report(ctx: click.Context, files: tuple[str, ...], target: tuple[str, ...], exclude: tuple[str, ...], fmt: str,
           rank_by: str | None, out: Path | None) -> None:
    """Results of the declared runs: leaderboards, curves, promotions, failures.

    Status and duration of the declared runs; per sweep a leaderboard and the best run's curves; the models
    promoted; the runs that failed, with why."""
    ws = open_workspace(ctx, files, quiet=fmt in ("json", "html"))
    result = run(reporting.report(ws, target, exclude, rank_by))
    text = {"markdown": render_report_markdown, "json": render_report_json, "html": render_report_html,
            "text": render_report_text}[fmt](result)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, "utf-8")
    click.echo(f"Wrote the report to {out}", err=True)
