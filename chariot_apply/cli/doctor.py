"""``chariot-apply doctor``: first contact with a Chariot, read-only."""

from __future__ import annotations

import click

from chariot_apply.cli.common import command, files_option, open_workspace, run
from chariot_apply.cli.errors import EXIT_ERROR, EXIT_OK
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.render.doctor import render_doctor_json, render_doctor_text
from chariot_apply.usecases.doctor import diagnose


@command()
@files_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def doctor(ctx: click.Context, files: tuple[str, ...], fmt: str) -> None:
    """Check, read-only, that the configured Chariot answers every operation chariot-apply uses as modelled.

    Credentials, the project, look-ups, listings, events, metrics, checkpoints, GPUs, validation."""
    ws = open_workspace(ctx, files, quiet=fmt == "json", need_manifests=False)
    broken: UserError | None = None
    try:
        declared = ws.manifests() if ws.paths else []
    except UserError as exc:  # the server is still checked; the manifests' own check fails
        declared, broken = [], exc
    blueprint = next(((r.spec.blueprint.name, r.spec.blueprint.version) for r in declared), None)
    project = declared[0].project if declared else ws.project.project
    report = run(diagnose(ws, project, blueprint, manifests_broken=broken))
    click.echo(render_doctor_json(report) if fmt == "json" else render_doctor_text(report), nl=False)
    ctx.exit(EXIT_OK if report.ok else EXIT_ERROR)
