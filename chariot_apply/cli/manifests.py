"""``chariot-apply validate``, ``render`` and ``lock``: the manifests themselves, mostly without a server.

``validate`` (offline) must start without the HTTP client: the use cases load only with ``--online``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from chariot_apply.cli.common import command, files_option, open_workspace, run
from chariot_apply.cli.errors import EXIT_ERROR, source_lines
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.render.manifests import render_manifests

if TYPE_CHECKING:
    from chariot_apply.workspace.project import Workspace


@command()
@click.argument("paths", nargs=-1)
@files_option
@click.option("--online", is_flag=True, help="Also resolve blueprints and validate configs on the server.")
@click.option("--skip-foreign", is_flag=True,
              help="Skip the YAML files named here that are not chariot-apply manifests too, as those found in "
                   "directories always are (for pre-commit, which names every YAML file); they are counted.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: every problem as a diagnostic (file, line, column, code, message, fix) for editors and "
                   "reviewdog (schemas/diagnostics.schema.json).")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], files: tuple[str, ...], online: bool,
             skip_foreign: bool, fmt: str) -> None:
    """Check manifests (schema, quantities, duplicates); --online validates configs against blueprints too.

    PATHS are manifest files or directories, like -f.
    """
    if fmt == "json":
        ctx.exit(_validate_json(ctx, paths + files, online, skip_foreign))
    ws = open_workspace(ctx, paths + files, quiet=not online)
    declared = ws.manifests(named_are_manifests=not skip_foreign)
    _say_skipped(ws)
    if online:
        from chariot_apply.render.diagnostics import from_plan, render_terminal
        from chariot_apply.usecases import planning  # the client and the planner: only for --online

        result = run(planning.validate_online(ws, declared))
        if result.invalid:
            found = from_plan(result)
            click.secho(f"Error: {len(found)} problem(s) found by the server's blueprints:", err=True, fg="red")
            for line in render_terminal(found, source_lines()):
                click.echo(f"  {line}", err=True)
            ctx.exit(EXIT_ERROR)
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
        if result.warnings:
            click.echo(f"{len(declared)} manifest(s) valid, with {len(result.warnings)} warning(s) above.")
            return
    click.echo(f"{len(declared)} manifest(s) valid.")


def _validate_json(ctx: click.Context, paths: tuple[str, ...], online: bool, skip_foreign: bool) -> int:
    """``validate --format json``: the diagnostics document on standard output, whatever went wrong."""
    from chariot_apply.manifest.errors import ManifestError
    from chariot_apply.render.diagnostics import (
        Diagnostic,
        diagnostics_json,
        from_manifest_problems,
        from_plan,
        warnings_of,
    )

    checked: int | None = None  # how many manifests were read, once they all were
    found: list[Diagnostic] = []
    try:
        ws = open_workspace(ctx, paths, quiet=True)
        declared = ws.manifests(named_are_manifests=not skip_foreign)
        checked = len(declared)
        if online:
            from chariot_apply.usecases import planning

            validated = run(planning.validate_online(ws, declared))
            found = from_plan(validated) + warnings_of(validated)
    except ManifestError as exc:
        found = from_manifest_problems(exc.problems)
    except UserError as exc:  # not in a manifest: still one diagnostic, of the whole command
        found = [Diagnostic(file="", line=0, column=0, code=exc.code, title="", message=exc.message, path="",
                            fix=exc.hint)]
    click.echo(diagnostics_json(found, source_lines(), checked=checked), nl=False)
    return EXIT_ERROR if any(d.severity == "error" for d in found) else 0


@command()
@files_option
@click.option("--origins", is_flag=True, help="Say where each value came from when another file set it (defaults).")
@click.option("--show-secrets", is_flag=True, help="Print secret config values instead of (sensitive): for a file "
                                                   "to plan from, never for a log.")
@click.pass_context
def render(ctx: click.Context, files: tuple[str, ...], origins: bool, show_secrets: bool) -> None:
    """Print the fully expanded TrainingRun documents (variables, defaults and sweeps applied) as YAML.

    What `plan` diffs, readable; with --show-secrets, planned again to the same plan."""
    ws = open_workspace(ctx, files, quiet=True)
    from chariot_apply.manifest.lock import read_lock

    declared = ws.manifests()
    _say_skipped(ws)
    lock = read_lock(ws.lock_path)
    click.echo(render_manifests(declared, origins=origins, show_secrets=show_secrets,
                                write_only=lock.secrets() if lock else None), nl=False)


@command("lock")
@files_option
@click.option("--upgrade", "upgrade", is_flag=True, help="Move locked blueprints to what their patterns resolve to "
                                                         "now (only the NAMEs given, if any).")
@click.argument("names", nargs=-1)
@click.pass_context
def lock(ctx: click.Context, files: tuple[str, ...], upgrade: bool, names: tuple[str, ...]) -> None:
    """Resolve the manifests' blueprints into chariot-apply.lock (commit it); --upgrade [NAME ...] moves them."""
    from chariot_apply.usecases import planning  # the client: only where the lock is made

    if names and not upgrade:
        raise UserError("blueprint names go with --upgrade", hint="chariot-apply lock --upgrade NAME", code=codes.USAGE)
    ws = open_workspace(ctx, files)
    changed = run(planning.lock(ws, list(names) if upgrade else None))
    for line in changed:
        click.echo(f"  {line}")
    where = os.path.relpath(ws.lock_path)
    click.echo(f"{where}: {len(changed)} blueprint(s) locked or moved." if changed else f"{where}: up to date.")


def _say_skipped(ws: Workspace) -> None:
    line = ws.skipped()
    if line:
        click.echo(f"chariot-apply: {line}", err=True)
