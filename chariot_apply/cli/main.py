"""The ``chariot-apply`` command: parses arguments, calls the library, prints, exits. Nothing else."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from chariot_apply import __version__
from chariot_apply.cli.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ChariotApplyGroup
from chariot_apply.errors import UserError
from chariot_apply.names import PROJECT_FILE

# The library loads in the commands that use it: `--help`, completion and `validate` start without the HTTP
# client, the planner or the emulator (issue: a CLI that starts at once).
if TYPE_CHECKING:
    from chariot_apply.apply.executor import ApplyResult
    from chariot_apply.chariot.models import Event, Run
    from chariot_apply.plan.model import Plan, PlanOptions
    from chariot_apply.render.status import StatusDocument
    from chariot_apply.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _run(awaitable: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, imported when a command first needs it (start-up stays quick)."""
    from chariot_apply.asyncrun import run

    return run(awaitable)


@dataclass
class Globals:
    """Options every command takes, before or after its name (``chariot-apply plan --no-color``)."""

    config: Path | None = None
    owner: str | None = None
    project: str | None = None
    chariot_url: str | None = None
    no_color: bool = False
    var: tuple[str, ...] = ()

    @property
    def color(self) -> bool:
        return not self.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and value is not False and value != () and param.name:
        setattr(ctx.ensure_object(Globals), param.name, value)


def _globals(ctx: click.Context) -> Globals:
    return ctx.ensure_object(Globals)


def _with(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


global_options: list[Callable[[F], F]] = [
    click.option("--config", type=click.Path(path_type=Path, dir_okay=False), callback=_remember,
                 expose_value=False, help=f"Project file (default: the nearest {PROJECT_FILE} upwards)."),
    click.option("--owner", callback=_remember, expose_value=False,
                 help="Owner id written into the runs we create [env CHARIOT_APPLY_OWNER]."),
    _project_option := click.option("--project", callback=_remember, expose_value=False,
                                    help="Default project for manifests that name none [env CHARIOT_APPLY_PROJECT]."),
    click.option("--chariot-url", callback=_remember, expose_value=False,
                 help="Chariot root URL [env CHARIOT_URL]; unset: the embedded emulator."),
    click.option("--no-color", is_flag=True, callback=_remember, expose_value=False,
                 help="No colour (also: NO_COLOR set, or not a terminal)."),
    click.option("--var", multiple=True, callback=_remember, expose_value=False, metavar="NAME=VALUE",
                 help="A value for ${NAME} in manifests (before the environment and `vars:`); repeatable."),
]


def _variables(given: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UserError(f"--var {item!r} is not NAME=VALUE", hint="for example --var EPOCHS=30")
        values[name] = value
    return values


@click.group(cls=ChariotApplyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chariot-apply")
@_with(global_options)
def cli() -> None:
    """Declare Chariot training runs in YAML; plan the difference; apply it idempotently."""


def command(*args: Any, own_project: bool = False, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """``cli.command`` with the global options, so that they work after the command's name too (but for
    ``--project`` where the command has its own)."""
    options = [o for o in global_options if not own_project or o is not _project_option]

    def decorate(f: Callable[..., Any]) -> click.Command:
        made: click.Command = cli.command(*args, **kwargs)(_with(options)(f))
        return made
    return decorate


def _workspace(ctx: click.Context, files: Sequence[str], quiet: bool = False,
               need_manifests: bool = True) -> Workspace:
    from chariot_apply.workspace import open_workspace

    g = _globals(ctx)
    ws = open_workspace(files, config=g.config, owner=g.owner, project=g.project, chariot_url=g.chariot_url,
                        need_manifests=need_manifests, variables=_variables(g.var))
    if not quiet:
        for notice in ws.notices:
            click.echo(notice, err=True)
    return ws


def _options(ws: Workspace, prune: bool, allow_replace: bool, target: tuple[str, ...],
             exclude: tuple[str, ...]) -> PlanOptions:
    from chariot_apply.plan.model import PlanOptions
    return PlanOptions(owner=ws.project.owner, prune=prune, allow_replace=allow_replace, targets=target,
                       excludes=exclude)


def _render(plan: Plan, fmt: str, color: bool) -> str:
    from chariot_apply.render.document import render_json
    from chariot_apply.render.markdown import render_markdown
    from chariot_apply.render.text import render_text
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


files_option = click.option("-f", "--filename", "files", multiple=True,
                            help="Manifest file, directory (recursive) or glob; '-' reads standard input. "
                                 "Repeatable.")
selection_options: list[Callable[[F], F]] = [
    click.option("--prune", is_flag=True, help="Delete runs we own that no manifest declares."),
    click.option("--allow-replace", is_flag=True, help="Replace (delete, then create) runs that changed."),
    click.option("--target", multiple=True, help="Only these addresses (project/name@version, globs)."),
    click.option("--exclude", multiple=True, help="Not these addresses (globs)."),
]
format_option = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                             show_default=True)
interval_option = click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.05, 3600),
                               help="Seconds between looks.")
locked_option = click.option("--locked", is_flag=True,
                             help="Fail if chariot-apply.lock is missing or does not cover a manifest (for CI).")


@command()
@click.argument("paths", nargs=-1)
@files_option
@click.option("--online", is_flag=True, help="Also resolve blueprints and validate configs on the server.")
@click.option("--skip-foreign", is_flag=True,
              help="Skip YAML documents that are not chariot-apply manifests (for pre-commit, which passes "
                   "every YAML file).")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], files: tuple[str, ...], online: bool,
             skip_foreign: bool) -> None:
    """Check manifests (schema, quantities, duplicates); --online validates configs against blueprints too.

    PATHS are manifest files or directories, like -f.
    """
    ws = _workspace(ctx, paths + files, quiet=not online)
    declared = ws.manifests(skip_foreign=skip_foreign)
    if online:  # the planner and the client load only here
        from chariot_apply import workflow
        from chariot_apply.plan.model import Plan
        from chariot_apply.render.text import render_text

        result = _run(workflow.validate_online(ws, declared))
        if result.invalid:
            click.echo(render_text(Plan(options=result.options, items=result.invalid), color=_globals(ctx).color))
            ctx.exit(EXIT_ERROR)
    click.echo(f"{len(declared)} manifest(s) valid.")


@command()
@files_option
@_with(selection_options)
@format_option
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Save the plan to apply later.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0: no changes, 1: error, 2: changes.")
@locked_option
@click.pass_context
def plan(ctx: click.Context, files: tuple[str, ...], prune: bool, allow_replace: bool, target: tuple[str, ...],
         exclude: tuple[str, ...], fmt: str, out: Path | None, detailed_exitcode: bool, locked: bool) -> None:
    """Show what apply would do."""
    from chariot_apply import workflow
    ws = _workspace(ctx, files)
    result = _run(workflow.plan(ws, _options(ws, prune, allow_replace, target, exclude), locked=locked))
    click.echo(_render(result, fmt, _globals(ctx).color), nl=False)
    if out is not None:
        workflow.save_plan(result, out)
        click.echo(f"Saved the plan to {out} (it holds config values: keep it private). "
                   f"Apply it with: chariot-apply apply {out}", err=True)
    if result.needs_attention:  # the apply that follows would fail on them: so does the plan
        click.echo(f"{result.needs_attention} declared run(s) need attention: applying would fail on them "
                   "(see 'Needs attention').", err=True)
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK)


def _seconds(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``: a duration in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number_, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number_) * units[unit]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration such as 90s, 15m or 2h") from None
    if value <= 0:
        raise click.BadParameter("a duration must be more than zero")
    return value


@command()
@click.argument("plan_file", required=False, type=click.Path(path_type=Path))
@files_option
@_with(selection_options)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (a saved plan never asks: "
                                                    "it was approved when it was saved).")
@click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 256))
@locked_option
@click.option("--wait", is_flag=True, help="Then wait for the runs it created to reach --until; exit 1 if one "
                                           "failed or --timeout passed (for CI).")
@click.option("--until", type=click.Choice(["running", "finished"]), default="running", show_default=True)
@click.option("--timeout", default="30m", show_default=True, help="How long --wait waits (90s, 15m, 2h).")
@interval_option
@click.pass_context
def apply(ctx: click.Context, plan_file: Path | None, files: tuple[str, ...], prune: bool, allow_replace: bool,
          target: tuple[str, ...], exclude: tuple[str, ...], auto_approve: bool, concurrency: int,
          locked: bool, wait: bool, until: str, timeout: str, interval: float) -> None:
    """Make Chariot match the manifests (or carry out a saved PLAN_FILE exactly)."""
    from chariot_apply import workflow
    from chariot_apply.apply.executor import ApplyResult
    from chariot_apply.cli.reporter import TerminalReporter
    from chariot_apply.render.text import render_text
    color = _globals(ctx).color
    if plan_file is not None:
        result_plan = workflow.load_saved_plan(plan_file)
        if files or prune or allow_replace or target or exclude:
            raise UserError("a saved plan is applied as it is",
                            hint="drop -f/--prune/--allow-replace/--target/--exclude")
        ws = _workspace(ctx, (), need_manifests=False)
        workflow.check_plan_target(result_plan, ws)
    else:
        ws = _workspace(ctx, files)
        result_plan = _run(workflow.plan(ws, _options(ws, prune, allow_replace, target, exclude),
                                                locked=locked))
    wait_seconds = _seconds(timeout) if wait else 0.0
    on_terminal = sys.stdout.isatty()
    # A long plan on a terminal: one line a run, not every detail (`plan` shows them all).
    click.echo(render_text(result_plan, color=color, compact=on_terminal and len(result_plan.changes) > 50), nl=False)
    if result_plan.invalid:
        raise UserError("the plan has invalid runs; nothing was applied", hint="fix the problems listed above")
    if not result_plan.has_changes:
        ctx.exit(_attention_exit(result_plan))
    if not auto_approve and plan_file is None:  # Terraform's rule: a saved plan was approved when saved
        if not sys.stdin.isatty():
            raise UserError("refusing to apply without confirmation, and there is no terminal to ask on",
                            hint="review the plan, then run again with --auto-approve")
        if not click.confirm("Apply these changes?", default=False):
            click.echo("Nothing applied.")
            ctx.exit(EXIT_ERROR)
    reporter = TerminalReporter(color, len(result_plan.changes), on_terminal)
    try:
        result = _run(workflow.apply(ws, result_plan, reporter, check_stale=plan_file is not None,
                                            concurrency=concurrency))
    except KeyboardInterrupt:
        _report(ApplyResult(tuple(reporter.outcomes)), interrupted=True)
        unknown = len(result_plan.changes) - len(reporter.outcomes)
        click.secho(f"Interrupted: {unknown} change(s) were not finished; some may have reached Chariot.",
                    err=True, fg="red")
        click.echo("Hint: run `chariot-apply apply` again: it looks before it creates, and converges.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    reporter.done()
    _report(result)
    if result.failed:
        ctx.exit(EXIT_ERROR)
    if wait:
        ctx.exit(_wait(ws, result, until, wait_seconds, interval) or _attention_exit(result_plan))
    ctx.exit(_attention_exit(result_plan))


def _wait(ws: Workspace, result: ApplyResult, until: str, timeout: float, interval: float) -> int:
    from chariot_apply import workflow
    created = [o.run_id for o in result.outcomes if o.ok and o.kind in ("create", "replace") and o.run_id]
    if not created:
        click.echo("Nothing was created: nothing to wait for.")
        return EXIT_OK
    click.echo(f"Waiting for {len(created)} run(s) to be {until} (at most {timeout:g}s)...")
    last: dict[str, str | None] = {}

    def on_poll(runs: Sequence[Run]) -> None:
        for run in runs:
            if last.get(run.id or "") != run.status:
                last[run.id or ""] = run.status
                progress = f" {run.progress[0].value}/{run.progress[0].final_value}" if run.progress else ""
                click.echo(f"  {run.name}@{run.version} [{run.id}]: {run.status}{progress}")

    waited = _run(workflow.wait(ws, created, until, timeout, interval, on_poll))  # type: ignore[arg-type]
    for run in waited.failed:
        click.secho(f"Error: {run.name}@{run.version} [{run.id}] {run.status}", err=True, fg="red")
    if waited.failed:
        click.echo("Hint: `chariot-apply events ADDRESS` shows what happened", err=True)
        return EXIT_ERROR
    if waited.timed_out:
        click.secho(f"Error: not every run was {until} after {timeout:g}s", err=True, fg="red")
        return EXIT_ERROR
    click.echo(f"Every run is {until}.")
    return EXIT_OK


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
    from chariot_apply import workflow
    from chariot_apply.render.status import number, progress_bar, render_status_json, render_status_text
    ws = _workspace(ctx, files, quiet=fmt == "json")
    projects = {r.project for r in ws.manifests()} | {ws.project.project}
    if not watch:
        document = _run(workflow.status(ws, projects))
        click.echo(render_status_json(document) if fmt == "json" else render_status_text(document), nl=False)
        return
    if fmt == "json":
        raise UserError("--watch draws a table", hint="drop --format json, or poll `status --format json` yourself")
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

    _run(workflow.watch(ws, projects, interval, show))
    click.echo("Every run has finished.")


@command()
@click.argument("address")
@click.option("--follow", is_flag=True, help="Keep printing new events until the run finishes.")
@interval_option
@click.pass_context
def events(ctx: click.Context, address: str, follow: bool, interval: float) -> None:
    """The events of the run at ADDRESS (project/name@version), in sequence order."""
    from chariot_apply import workflow
    ws = _workspace(ctx, (), quiet=True, need_manifests=False)

    def show(event: Event) -> None:
        details = " ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
        click.echo(f"{event.sequence:>4}  {event.created_at.isoformat(timespec='seconds')}  {event.status}"
                   + (f"  {details}" if details else ""))

    _run(workflow.events(ws, address, follow=follow, interval=interval, show=show))


@command()
@click.argument("address")
@click.option("--tag", "tags", multiple=True, help="Only this metric tag; repeatable.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True)
@click.option("--plot", is_flag=True, help="Draw each tag's curve in the terminal.")
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), help="Write a chart (needs the `plot` extra).")
@click.pass_context
def metrics(ctx: click.Context, address: str, tags: tuple[str, ...], fmt: str, plot: bool, png: Path | None) -> None:
    """The metrics of the run at ADDRESS (project/name@version)."""
    from chariot_apply import workflow
    from chariot_apply.render.metrics import ordered, render_metrics_csv, render_metrics_json, render_metrics_text
    from chariot_apply.render.metrics import plot as plot_metrics
    from chariot_apply.render.png import write_png
    ws = _workspace(ctx, (), quiet=True, need_manifests=False)
    chosen = ordered(_run(workflow.metrics(ws, address)), tags)
    if png is not None:
        write_png(chosen, png, address)
        click.echo(f"Wrote {png}", err=True)
    if plot:
        click.echo(plot_metrics(chosen), nl=False)
    elif png is None or fmt != "text":
        render = {"csv": render_metrics_csv, "json": render_metrics_json, "text": render_metrics_text}[fmt]
        click.echo(render(chosen), nl=False)


@command()
@click.argument("address")
@click.pass_context
def adopt(ctx: click.Context, address: str) -> None:
    """Take ownership of the existing run at ADDRESS (project/name@version), recorded in the project file."""
    from chariot_apply import workflow
    from chariot_apply.manifest.project_file import add_adopted, find_project_file
    g = _globals(ctx)
    path = g.config or find_project_file(Path.cwd()) or Path(PROJECT_FILE)
    ws = _workspace(ctx, (), need_manifests=False)
    run = _run(workflow.find_unowned(ws, address))
    add_adopted(path, run.id or "")
    click.echo(f"Adopted run {run.id} at {address}; recorded in {path}. Commit that file.")


@command()
@files_option
@click.option("--origins", is_flag=True, help="Say where each value came from when another file set it (defaults).")
@click.pass_context
def render(ctx: click.Context, files: tuple[str, ...], origins: bool) -> None:
    """Print the fully expanded TrainingRun documents (variables, defaults and sweeps applied) as YAML:
    what `plan` diffs, readable, and planned again to the same plan."""
    from chariot_apply.render.manifests import render_manifests
    ws = _workspace(ctx, files, quiet=True)
    click.echo(render_manifests(ws.manifests(), origins=origins), nl=False)


@command("lock")
@files_option
@click.option("--upgrade", "upgrade", is_flag=True, help="Move locked blueprints to what their patterns resolve to "
                                                         "now (only the NAMEs given, if any).")
@click.argument("names", nargs=-1)
@click.pass_context
def lock_command(ctx: click.Context, files: tuple[str, ...], upgrade: bool, names: tuple[str, ...]) -> None:
    """Resolve the manifests' blueprints into chariot-apply.lock (commit it); --upgrade [NAME ...] moves them."""
    from chariot_apply import workflow
    if names and not upgrade:
        raise UserError("blueprint names go with --upgrade", hint="chariot-apply lock --upgrade NAME")
    ws = _workspace(ctx, files)
    changed = _run(workflow.lock(ws, list(names) if upgrade else None))
    for line in changed:
        click.echo(f"  {line}")
    where = os.path.relpath(ws.lock_path)
    click.echo(f"{where}: {len(changed)} blueprint(s) locked or moved." if changed else f"{where}: up to date.")


selection = [
    click.option("--project", "from_project", required=True, help="The project (name or id) whose runs to take."),
    click.option("--name-ilike", multiple=True, help="Only runs whose name matches (SQL ILIKE); repeatable."),
    click.option("--status", multiple=True, help="Only runs in this status (job_running, ...); repeatable."),
    click.option("--id", "ids", multiple=True, help="Only this run id; repeatable."),
]


@command(own_project=True)
@_with(selection)
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False),
              help="Write <project>.yaml into this directory (default: print).")
@click.pass_context
def export(ctx: click.Context, from_project: str, name_ilike: tuple[str, ...], status: tuple[str, ...],
           ids: tuple[str, ...], output: Path | None) -> None:
    """Write manifests for live runs: blueprint and exact version, task type, resources, config without schema
    defaults, notes, and a state from the status. Planning them against the same runs changes nothing."""
    import yaml

    from chariot_apply import workflow
    ws = _workspace(ctx, (), quiet=True, need_manifests=False)
    exported = _run(workflow.export(ws, from_project, name_ilikes=name_ilike, statuses=status, ids=ids))
    for line in exported.skipped:
        click.echo(f"Skipped {line}", err=True)
    if output is None:
        click.echo(yaml.safe_dump_all(exported.documents, sort_keys=False, allow_unicode=True), nl=False)
        return
    for path in workflow.write_exported(exported.documents, output):
        click.echo(f"Wrote {path}", err=True)


@command("import", own_project=True)
@_with(selection)
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Write <project>.yaml into this directory (list it under `manifests` in the project file).")
@click.pass_context
def import_command(ctx: click.Context, from_project: str, name_ilike: tuple[str, ...], status: tuple[str, ...],
                   ids: tuple[str, ...], output: Path) -> None:
    """Export, and adopt the runs chariot-apply does not own yet (recorded in the project file): bring the runs a
    team already has under management in one step."""
    from chariot_apply import workflow
    from chariot_apply.manifest.project_file import add_adopted, find_project_file
    from chariot_apply.plan.ownership import is_owned
    g = _globals(ctx)
    project_file = g.config or find_project_file(Path.cwd()) or Path(PROJECT_FILE)
    ws = _workspace(ctx, (), quiet=True, need_manifests=False)
    exported = _run(workflow.export(ws, from_project, name_ilikes=name_ilike, statuses=status, ids=ids))
    for line in exported.skipped:
        click.echo(f"Skipped {line}", err=True)
    paths = workflow.write_exported(exported.documents, output)
    adopted = [r.id for r in exported.runs if r.id and not is_owned(r.notes, r.id, ws.project.owner,
                                                                    ws.project.adopted)]
    for run_id in adopted:
        add_adopted(project_file, run_id)
    click.echo(f"Imported {len(exported.documents)} run(s) into {', '.join(map(str, paths)) or 'nothing'}; adopted "
               f"{len(adopted)} (recorded in {project_file}). Commit both; `chariot-apply plan` shows no changes.")


SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(chariot-apply completion bash)" (or zsh, fish)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    click.echo(completer(cli, {}, "chariot-apply", "_CHARIOT_APPLY_COMPLETE").source())


from chariot_apply.cli.emulator import emulator  # noqa: E402
from chariot_apply.cli.github import github  # noqa: E402

cli.add_command(emulator)
cli.add_command(github)


def main() -> None:
    cli(prog_name="chariot-apply")


if __name__ == "__main__":
    main()
