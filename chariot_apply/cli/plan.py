"""``chariot-apply plan``: show the difference (``cli/apply.py`` carries it out)."""

from __future__ import annotations

from pathlib import Path

import click

from chariot_apply.cli.common import (
    command,
    files_option,
    global_settings,
    locked_option,
    open_workspace,
    run,
    selection_options,
    with_options,
)
from chariot_apply.cli.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from chariot_apply.plan import document as planfile
from chariot_apply.plan.document import plan_json
from chariot_apply.plan.model import Plan, PlanOptions
from chariot_apply.render.text import render_text
from chariot_apply.usecases import planning
from chariot_apply.workspace.project import Workspace


def plan_options(ws: Workspace, prune: bool, allow_replace: bool, target: tuple[str, ...],
             exclude: tuple[str, ...], strict_config: bool, allow_protected: bool) -> PlanOptions:
    return ws.plan_options(prune=prune, allow_replace=allow_replace, targets=target, excludes=exclude,
                           strict_config=strict_config, allow_protected=allow_protected)


def _render(plan_: Plan, fmt: str, color: bool) -> str:
    if fmt == "json":
        return plan_json(plan_)
    if fmt == "markdown":
        from chariot_apply.render.markdown import render_markdown  # only this format needs it

        return render_markdown(plan_)
    return render_text(plan_, color=color)


@command()
@files_option
@with_options(selection_options)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan to apply later.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@locked_option
@click.pass_context
def plan(ctx: click.Context, files: tuple[str, ...], prune: bool, allow_replace: bool, target: tuple[str, ...],
         exclude: tuple[str, ...], strict_config: bool, allow_protected: bool, fmt: str, out: Path | None,
         detailed_exitcode: bool, locked: bool) -> None:
    """Show what apply would do."""
    ws = open_workspace(ctx, files)
    result = run(planning.plan(ws, plan_options(ws, prune, allow_replace, target, exclude, strict_config,
                                            allow_protected), locked=locked),
                 bulk_heap=True)
    click.echo(_render(result, fmt, global_settings(ctx).color), nl=False)
    if out is not None:
        planfile.save_plan(result, out)
        click.echo(f"Saved the plan to {out} (it holds config values: keep it private). "
                   f"Apply it with: chariot-apply apply {out}", err=True)
    if result.needs_attention:  # the apply that follows would fail on them: so does the plan
        click.echo(f"{result.needs_attention} declared run(s) need attention: applying would fail on them "
                   "(see 'Needs attention').", err=True)
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK)
