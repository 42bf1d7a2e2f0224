"""``chariot-apply reconcile``: carry out what the reviewed manifests' rules call for now, and nothing else."""

from __future__ import annotations

import json

import click

from chariot_apply.apply.executor import Reporter
from chariot_apply.cli.common import command, files_option, locked_option, open_workspace, run
from chariot_apply.cli.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, show_error
from chariot_apply.diagnostics.errors import UserError
from chariot_apply.render.reconcile import reconcile_document, render_reconcile_text
from chariot_apply.usecases import reconciling


@command()
@files_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when declared drift was found (and left).")
@locked_option
@click.pass_context
def reconcile(ctx: click.Context, files: tuple[str, ...], fmt: str, concurrency: int, detailed_exitcode: bool,
              locked: bool) -> None:
    """Carry out only the lifecycle actions the manifests' rules call for now; report declared drift.

    Limits, retries, promotions, retention, creates once what they depend on finished; declared drift is reported,
    never applied. Idempotent: safe from cron."""
    ws = open_workspace(ctx, files, quiet=fmt == "json")
    options = ws.plan_options()
    # Outcomes are said once, at the end (a cron log reads best whole): the reporter stays quiet.
    try:
        done = run(reconciling.reconcile(ws, options, Reporter(), locked=locked, concurrency=concurrency),
                   bulk_heap=True)
    except UserError as exc:
        if fmt != "json":
            raise
        show_error(exc)  # on standard error as ever; standard output stays a document a script can read
        click.echo(json.dumps({"ok": False, "error": exc.message, "hint": exc.hint, "details": list(exc.details)},
                              indent=2))
        ctx.exit(EXIT_ERROR)
    document = reconcile_document(done.plan, done.result, done.busy)
    click.echo(document.model_dump_json(indent=2) + "\n" if fmt == "json" else render_reconcile_text(document),
               nl=False)
    if not document.ok:
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_CHANGES if detailed_exitcode and document.drift else EXIT_OK)
