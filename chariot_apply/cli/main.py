"""The ``chariot-apply`` command: parses arguments, calls the library, prints, exits. Nothing else."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from chariot_apply import __version__, workflow
from chariot_apply.apply.executor import ApplyResult, Outcome
from chariot_apply.cli.errors import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ChariotApplyGroup,
    UserError,
)
from chariot_apply.manifest.project_file import PROJECT_FILE, add_adopted, find_project_file
from chariot_apply.plan.model import Change, Plan, PlanOptions
from chariot_apply.render.describe import outcome_line
from chariot_apply.render.document import render_json
from chariot_apply.render.markdown import render_markdown
from chariot_apply.render.text import render_text


@dataclass
class Globals:
    config: Path | None
    owner: str | None
    project: str | None
    chariot_url: str | None
    color: bool


def _color(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


@click.group(cls=ChariotApplyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chariot-apply")
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Project file (default: the nearest {PROJECT_FILE} upwards).")
@click.option("--owner", help="Owner id written into the runs we create [env CHARIOT_APPLY_OWNER].")
@click.option("--project", help="Default project for manifests that name none [env CHARIOT_APPLY_PROJECT].")
@click.option("--chariot-url", help="Chariot root URL [env CHARIOT_URL]; unset: the embedded emulator.")
@click.option("--no-color", is_flag=True, help="No colour (also: NO_COLOR set, or not a terminal).")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, owner: str | None, project: str | None,
        chariot_url: str | None, no_color: bool) -> None:
    """Declare Chariot training runs in YAML; plan the difference; apply it idempotently."""
    ctx.obj = Globals(config, owner, project, chariot_url, _color(no_color))


def _workspace(ctx: click.Context, files: tuple[str, ...], quiet: bool = False,
               need_manifests: bool = True) -> workflow.Workspace:
    g: Globals = ctx.obj
    try:
        ws = workflow.open_workspace(files, config=g.config, owner=g.owner, project=g.project,
                                     chariot_url=g.chariot_url, need_manifests=need_manifests)
    except workflow.UserInputError as exc:
        raise UserError(str(exc)) from None
    if ws.connection.notice and not quiet:
        click.echo(ws.connection.notice, err=True)
    return ws


def _options(ws: workflow.Workspace, prune: bool, allow_replace: bool, target: tuple[str, ...],
             exclude: tuple[str, ...]) -> PlanOptions:
    return PlanOptions(owner=ws.project.owner, prune=prune, allow_replace=allow_replace, targets=target,
                       excludes=exclude)


def _render(plan: Plan, fmt: str, color: bool) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


files_option = click.option("-f", "--filename", "files", multiple=True,
                            help="Manifest file, directory (recursive) or glob; repeatable.")
selection_options = [
    click.option("--prune", is_flag=True, help="Delete runs we own that no manifest declares."),
    click.option("--allow-replace", is_flag=True, help="Replace (delete, then create) runs that changed."),
    click.option("--target", multiple=True, help="Only these addresses (project/name@version, globs)."),
    click.option("--exclude", multiple=True, help="Not these addresses (globs)."),
]
format_option = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                             show_default=True)


def _with(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


@cli.command()
@files_option
@click.option("--online", is_flag=True, help="Also resolve blueprints and validate configs on the server.")
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], online: bool) -> None:
    """Check manifests (schema, quantities, duplicates); --online validates configs against blueprints too."""
    ws = _workspace(ctx, files, quiet=not online)
    declared = ws.manifests()
    if online:
        result = asyncio.run(workflow.validate_online(ws, declared))
        if result.invalid:
            click.echo(render_text(Plan(options=result.options, items=result.invalid), color=ctx.obj.color))
            ctx.exit(EXIT_ERROR)
    click.echo(f"{len(declared)} manifest(s) valid.")


@cli.command()
@files_option
@_with(selection_options)
@format_option
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan to apply later.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@click.pass_context
def plan(ctx: click.Context, files: tuple[str, ...], prune: bool, allow_replace: bool, target: tuple[str, ...],
         exclude: tuple[str, ...], fmt: str, out: Path | None, detailed_exitcode: bool) -> None:
    """Show what apply would do."""
    ws = _workspace(ctx, files)
    result = asyncio.run(workflow.plan(ws, _options(ws, prune, allow_replace, target, exclude)))
    click.echo(_render(result, fmt, ctx.obj.color), nl=False)
    if out is not None:
        out.write_text(render_json(result, redact=False), "utf-8")
        out.chmod(0o600)
        click.echo(f"Saved the plan to {out} (it holds config values: keep it private). "
                   f"Apply it with: chariot-apply apply {out}", err=True)
    if result.invalid:
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK)


class TerminalReporter:
    """Prints each outcome as it comes, and remembers them for a report if the apply is interrupted."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.outcomes: list[Outcome] = []

    def started(self, change: Change) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        line = outcome_line(outcome.address, outcome.kind, outcome.ok, outcome.detail, outcome.run_id)
        click.secho(f"  {line}", fg=None if outcome.ok or not self.color else "red", color=self.color)


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@files_option
@_with(selection_options)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@click.pass_context
def apply(ctx: click.Context, plan_file: Path | None, files: tuple[str, ...], prune: bool, allow_replace: bool,
          target: tuple[str, ...], exclude: tuple[str, ...], auto_approve: bool, concurrency: int) -> None:
    """Make Chariot match the manifests (or carry out a saved plan exactly)."""
    if plan_file is not None:
        if files or prune or allow_replace or target or exclude:
            raise UserError("a saved plan is applied as it is", "drop -f/--prune/--allow-replace/--target/--exclude")
        ws = _workspace(ctx, (), need_manifests=False)
        try:
            result_plan = workflow.load_saved_plan(plan_file)
        except ValueError as exc:
            raise UserError(f"cannot read the plan {plan_file}: {str(exc).splitlines()[0]}",
                            "make it with `chariot-apply plan --out FILE`") from None
    else:
        ws = _workspace(ctx, files)
        result_plan = asyncio.run(workflow.plan(ws, _options(ws, prune, allow_replace, target, exclude)))
    click.echo(render_text(result_plan, color=ctx.obj.color), nl=False)
    if result_plan.invalid:
        raise UserError("the plan has invalid runs; nothing was applied", "fix the problems listed above")
    if not result_plan.has_changes:
        ctx.exit(_attention_exit(result_plan))
    if not auto_approve:
        if not sys.stdin.isatty():
            raise UserError("refusing to apply without confirmation, and there is no terminal to ask on",
                            "review the plan, then run again with --auto-approve")
        if not click.confirm("Apply these changes?", default=False):
            click.echo("Nothing applied.")
            ctx.exit(EXIT_ERROR)
    reporter = TerminalReporter(ctx.obj.color)
    try:
        result = asyncio.run(workflow.apply(ws, result_plan, reporter, check_stale=plan_file is not None,
                                            concurrency=concurrency))
    except workflow.StalePlanError as exc:
        raise UserError(str(exc), exc.hint) from None
    except KeyboardInterrupt:
        _report(ApplyResult(tuple(reporter.outcomes)), interrupted=True)
        unknown = len(result_plan.changes) - len(reporter.outcomes)
        click.secho(f"Interrupted: {unknown} change(s) were not finished; some may have reached Chariot.",
                    err=True, fg="red")
        click.echo("Hint: run `chariot-apply apply` again: it looks before it creates, and converges.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    _report(result)
    ctx.exit(EXIT_ERROR if result.failed else _attention_exit(result_plan))


def _attention_exit(plan_: Plan) -> int:
    if plan_.unreached:
        click.echo("Some declared runs were not brought to their declared state (see 'Needs attention').",
                   err=True)
        return EXIT_ERROR
    return EXIT_OK


def _report(result: ApplyResult, interrupted: bool = False) -> None:
    done: dict[str, int] = {}
    for outcome in result.outcomes:
        if outcome.ok:
            done[outcome.kind] = done.get(outcome.kind, 0) + 1
    parts = [f"{n} {k}" for k, n in sorted(done.items())]
    state = "interrupted" if interrupted else "complete" if result.ok else "incomplete"
    click.echo(f"Apply {state}: {', '.join(parts) or 'nothing done'}; "
               f"{len(result.failed)} failed.")
    for outcome in result.failed:
        click.secho(f"Error: {outcome.address}: {outcome.kind} failed: {outcome.detail}", err=True, fg="red")
        if outcome.hint:
            click.echo(f"Hint: {outcome.hint}", err=True)
    if result.failed:
        click.echo("Hint: run `chariot-apply apply` again: it picks up where this one stopped.", err=True)


@cli.command()
@files_option
@click.pass_context
def status(ctx: click.Context, files: tuple[str, ...]) -> None:
    """Runs we own in the projects of the manifests, with status and progress."""
    ws = _workspace(ctx, files)
    projects = {r.project for r in ws.manifests()} | {ws.project.project}
    runs, names = asyncio.run(workflow.managed_runs(ws, ws.project.owner, projects))
    if not runs:
        click.echo(f"No runs owned by {ws.project.owner!r} in {', '.join(sorted(projects))}.")
        return
    rows = [("RUN", "STATUS", "PROGRESS", "ID")]
    for run in sorted(runs, key=lambda r: (names.get(r.project_id or "", ""), r.name or "", r.version or "")):
        progress = "-"
        if run.progress:
            p = run.progress[0]
            progress = f"{p.value}/{p.final_value} {p.units}"
        rows.append((f"{names.get(run.project_id or '', run.project_id)}/{run.name}@{run.version}",
                     run.status or "?", progress, run.id or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cli.command()
@click.argument("address")
@click.pass_context
def adopt(ctx: click.Context, address: str) -> None:
    """Take ownership of the existing run at ADDRESS (project/name@version), recorded in the project file."""
    g: Globals = ctx.obj
    path = g.config or find_project_file(Path.cwd()) or Path(PROJECT_FILE)
    ws = _workspace(ctx, (), need_manifests=False)
    try:
        run = asyncio.run(workflow.find_unowned(ws, address))
    except ValueError as exc:
        raise UserError(str(exc), "give the address shown in the plan's conflict") from None
    add_adopted(path, run.id or "")
    click.echo(f"Adopted run {run.id} at {address}; recorded in {path}. Commit that file.")


from chariot_apply.cli.emulator import emulator  # noqa: E402
from chariot_apply.cli.github import github  # noqa: E402

cli.add_command(emulator)
cli.add_command(github)


def main() -> None:
    cli(prog_name="chariot-apply")


if __name__ == "__main__":
    main()
