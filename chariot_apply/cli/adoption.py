"""``chariot-apply adopt``, ``export`` and ``import``: bring runs that exist already under management."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from chariot_apply.cli.common import command, complete_address, global_settings, open_workspace, run, with_options
from chariot_apply.diagnostics import hints
from chariot_apply.usecases import exporting

selection = [
    click.option("--project", "from_project", required=True, help="The project (name or id) whose runs to take."),
    click.option("--name-ilike", multiple=True, help="Only runs whose name matches (SQL ILIKE); repeatable."),
    click.option("--status", multiple=True, help="Only runs in this status (job_running, ...); repeatable."),
    click.option("--id", "ids", multiple=True, help="Only this run id; repeatable."),
]


@command()
@click.argument("address", shell_complete=complete_address)
@click.pass_context
def adopt(ctx: click.Context, address: str) -> None:
    """Take ownership of the existing run at ADDRESS (project/name@version), recorded in the project file."""
    project_file = global_settings(ctx).project_file()
    ws = open_workspace(ctx, (), need_manifests=False)
    adopted = run(exporting.adopt(ws, project_file, address))
    click.echo(f"Adopted run {adopted.id} at {address}; recorded in {project_file}. Commit that file.")


@command(own_project=True)
@with_options(selection)
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False),
              help="Write <project>.yaml into this directory (default: print).")
@click.option("--include-managed", is_flag=True, help="Also the runs chariot-apply manages already (their "
                                                      "manifests exist: a copy would declare them twice).")
@click.pass_context
def export(ctx: click.Context, from_project: str, name_ilike: tuple[str, ...], status: tuple[str, ...],
           ids: tuple[str, ...], output: Path | None, include_managed: bool) -> None:
    """Write manifests for live runs.

    Blueprint and exact version, task type, resources, config without schema defaults, notes, and a state from the
    status. Planning them against the same runs changes nothing."""
    ws = open_workspace(ctx, (), quiet=True, need_manifests=False)
    exported = run(exporting.export(ws, from_project, name_ilikes=name_ilike, statuses=status, ids=ids,
                                   include_managed=include_managed))
    _say_what_was_left_out(exported)
    if output is None:
        click.echo(yaml.safe_dump_all(exported.documents, sort_keys=False, allow_unicode=True), nl=False)
        return
    for path in exporting.write_exported(exported.documents, output):
        click.echo(f"Wrote {path}", err=True)


@command("import", own_project=True)
@with_options(selection)
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Write <project>.yaml into this directory (list it under `manifests` in the project file).")
@click.pass_context
def import_(ctx: click.Context, from_project: str, name_ilike: tuple[str, ...], status: tuple[str, ...],
            ids: tuple[str, ...], output: Path) -> None:
    """Export, and adopt the runs chariot-apply does not own yet (recorded in the project file).

    Brings the runs a team already has under management in one step."""
    project_file = global_settings(ctx).project_file()
    ws = open_workspace(ctx, (), quiet=True, need_manifests=False)
    imported = run(exporting.import_runs(ws, project_file, output, from_project, name_ilikes=name_ilike,
                                        statuses=status, ids=ids))
    _say_what_was_left_out(imported.exported)
    click.echo(f"Imported {len(imported.exported.documents)} run(s) into "
               f"{', '.join(map(str, imported.paths)) or 'nothing'}; adopted {len(imported.adopted)} (recorded in "
               f"{project_file}). Commit both; {hints.PLAN.cited()} shows no changes.")


def _say_what_was_left_out(exported: exporting.Exported) -> None:
    for line in exported.skipped:
        click.echo(f"Skipped {line}", err=True)
    if exported.variables:
        click.echo("Secret values are written as ${VARIABLE} references, never their values; set each (in the "
                   "environment, with --var, or under `vars:`) before planning these manifests:", err=True)
        for line in exported.variables:
            click.echo(f"  {line}", err=True)
