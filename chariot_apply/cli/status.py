"""``chariot-apply status``, ``events`` and ``metrics``: what the runs are doing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from chariot_apply.chariot.models import Event
from chariot_apply.cli.common import command, complete_address, files_option, interval_option, open_workspace, run
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.render.metrics import ordered, render_metrics_csv, render_metrics_json, render_metrics_text
from chariot_apply.render.metrics import plot as plot_metrics
from chariot_apply.render.png import write_png
from chariot_apply.render.status import (
    StatusDocument,
    number,
    progress_bar,
    render_status_json,
    render_status_text,
)
from chariot_apply.usecases import watching


@command()
@files_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json follows schemas/status.schema.json.")
@click.option("--watch", is_flag=True, help="Refresh until every run has finished (Ctrl-C to stop); off a "
                                            "terminal, one line per change.")
@interval_option
@click.pass_context
def status(ctx: click.Context, files: tuple[str, ...], fmt: str, watch: bool, interval: float) -> None:
    """Runs we own in the projects of the manifests: status, progress, age, last event, latest metrics."""
    ws = open_workspace(ctx, files, quiet=fmt == "json")
    projects = {r.project for r in ws.manifests()} | {ws.project.project}
    if not watch:
        document = run(watching.status(ws, projects))
        click.echo(render_status_json(document) if fmt == "json" else render_status_text(document), nl=False)
        return
    if fmt == "json":
        raise UserError("--watch draws a table", hint="drop --format json, or poll `status --format json` yourself",
                        code=codes.USAGE)
    on_terminal = sys.stdout.isatty()
    seen: dict[str, tuple[str | None, str]] = {}

    def show(document: StatusDocument) -> None:
        if on_terminal:  # the table, redrawn in place
            click.clear()
            click.echo(f"chariot-apply status --watch (every {interval:g}s; Ctrl-C to stop)\n")
            click.echo(render_status_text(document), nl=False)
            return
        for line in document.runs:  # CI logs: one line per change
            now = (line.status, progress_bar(line.progress))
            if seen.get(line.address) != now:
                seen[line.address] = now
                metrics = " ".join(f"{tag}={number(v)}" for tag, v in line.metrics.items())
                click.echo(f"{line.address}: {line.status} {now[1]} {metrics}".rstrip())

    run(watching.watch(ws, projects, interval, show), watching=True)
    click.echo("Every run has finished.")


attempt_option = click.option("--attempt", type=click.IntRange(1), default=None,
                              help="The N-th run of ours at ADDRESS, oldest first (default: the current attempt: "
                                   "after a retry, the retry).")


@command()
@click.argument("address", shell_complete=complete_address)
@click.option("--follow", is_flag=True, help="Keep printing new events until the run finishes.")
@interval_option
@attempt_option
@click.pass_context
def events(ctx: click.Context, address: str, follow: bool, interval: float, attempt: int | None) -> None:
    """The events of the run at ADDRESS (project/name@version), in sequence order."""
    ws = open_workspace(ctx, (), quiet=True, need_manifests=False)

    def show(event: Event) -> None:
        details = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
        click.echo(f"{event.sequence:>4}  {event.created_at.isoformat(timespec='seconds')}  {event.status}"
                   + (f"  {details}" if details else ""))

    run(watching.events(ws, address, follow=follow, interval=interval, show=show, attempt=attempt),
        watching=follow)


@command()
@click.argument("address", shell_complete=complete_address)
@click.option("--tag", "tags", multiple=True, help="Only this metric tag; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True)
@click.option("--plot", is_flag=True, help="Draw each tag's curve in the terminal.")
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), help="Write a chart (needs the `plot` extra).")
@attempt_option
@click.pass_context
def metrics(ctx: click.Context, address: str, tags: tuple[str, ...], fmt: str, plot: bool, png: Path | None,
            attempt: int | None) -> None:
    """The metrics of the run at ADDRESS (project/name@version)."""
    ws = open_workspace(ctx, (), quiet=True, need_manifests=False)
    chosen = ordered(run(watching.metrics(ws, address, tags, attempt)), tags)
    if png is not None:
        write_png(chosen, png, address)
        click.echo(f"Wrote {png}", err=True)
    if plot:
        click.echo(plot_metrics(chosen), nl=False)
    elif png is None or fmt != "text":
        render = {"csv": render_metrics_csv, "json": render_metrics_json, "text": render_metrics_text}[fmt]
        click.echo(render(chosen), nl=False)
